/* stub: to be written */
#include "util/common.h"
