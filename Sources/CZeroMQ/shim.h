#ifndef CZEROMQ_SHIM_H
#define CZEROMQ_SHIM_H

#include <zmq.h>
#include <errno.h>

/* errno values Swift cannot import as macros on every platform. */
static inline int CZeroMQ_EAGAIN(void) { return EAGAIN; }
static inline int CZeroMQ_EINTR(void) { return EINTR; }
static inline int CZeroMQ_ETERM(void) { return ETERM; }

static inline int CZeroMQ_has_curve(void) { return zmq_has("curve"); }

#endif
