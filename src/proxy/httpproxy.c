/* httpproxy.c (see httpproxy.h). */
