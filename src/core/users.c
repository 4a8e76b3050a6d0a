/* users.c - console users and ACLs (see users.h). */
