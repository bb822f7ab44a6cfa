#include "iotw/sim/sim_etcd.hpp"

// Being written (see the header).
