/* Handshake shares per source address and prefix (admission.h). */
#include "admission.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static netaddr addr(const char *s)
{
    netaddr a;
    cr_assert_eq(netaddr_parse(s, strlen(s), &a), 0, "%s", s);
    return a;
}

Test(admission, an_address_gets_its_share_then_is_refused)
{
    struct admission *a = admission_new();
    netaddr src = addr("198.51.100.7:40000");
    uint64_t slots[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(admission_take(a, &src, 4, 100, &slots[i]), 0, "take %d", i);
    uint64_t s;
    cr_assert_eq(admission_take(a, &src, 4, 100, &s), 1, "the fifth handshake from one address");
    /* another port of the same address is the same source */
    netaddr other_port = addr("198.51.100.7:40001");
    cr_assert_eq(admission_take(a, &other_port, 4, 100, &s), 1);
    admission_put(a, slots[0]);
    cr_assert_eq(admission_take(a, &src, 4, 100, &s), 0, "a slot given back can be taken");
    admission_free(a);
}

Test(admission, a_prefix_caps_many_addresses)
{
    struct admission *a = admission_new();
    char buf[64];
    for (int i = 1; i <= 10; i++) {
        snprintf(buf, sizeof(buf), "203.0.113.%d:1", i);
        netaddr src = addr(buf);
        uint64_t s;
        cr_assert_eq(admission_take(a, &src, 4, 10, &s), 0, "%s", buf);
    }
    netaddr eleventh = addr("203.0.113.77:1"), elsewhere = addr("203.0.114.1:1");
    uint64_t s;
    cr_assert_eq(admission_take(a, &eleventh, 4, 10, &s), 2, "the /24's share is full");
    cr_assert_eq(admission_take(a, &elsewhere, 4, 10, &s), 0, "another /24 is not affected");
    admission_free(a);
}

Test(admission, ipv6_prefix_is_a_56)
{
    struct admission *a = admission_new();
    netaddr x = addr("[2001:db8:0:100::1]:1"), y = addr("[2001:db8:0:1ff::2]:1"),
            z = addr("[2001:db8:0:200::1]:1");
    uint64_t s;
    cr_assert_eq(admission_take(a, &x, 10, 1, &s), 0);
    cr_assert_eq(admission_take(a, &y, 10, 1, &s), 2, "same /56");
    cr_assert_eq(admission_take(a, &z, 10, 1, &s), 0, "another /56");
    admission_free(a);
}

Test(admission, unknown_source_is_admitted_without_a_slot)
{
    struct admission *a = admission_new();
    netaddr none = {0};
    uint64_t s = 42;
    cr_assert_eq(admission_take(a, &none, 1, 1, &s), 0);
    cr_assert_eq(s, 0);
    admission_put(a, s); /* a no-op */
    admission_free(a);
}
