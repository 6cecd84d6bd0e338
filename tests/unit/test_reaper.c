#include "util/common.h"
#include "tap.h"
int main(int argc, char **argv)
{
	return tap_main(argc, argv, NULL, 0);
}
