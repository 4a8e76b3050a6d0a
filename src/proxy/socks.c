/* socks.c (see socks.h). */
