/* http1.c (see http1.h). */
