#include "trace/trace-hw.h"
