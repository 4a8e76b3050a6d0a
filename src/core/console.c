/* console.c - console sessions (see console.h). */
