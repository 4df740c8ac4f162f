#include "trace/trace-softmmu.h"
