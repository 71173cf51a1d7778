/* support.h - small helpers shared by tests and benchmarks. */
#ifndef JCW_SUPPORT_H
#define JCW_SUPPORT_H

/* Monotonic seconds. */
double support_now(void);

#endif
