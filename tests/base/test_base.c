/* src/base: the GUID and peer-address types every layer shares. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "guid.h"
#include "netaddr.h"

#define GP(s, g)  guid_parse(s, strlen(s), g)
#define GPL(s, g) guid_parse_loose(s, strlen(s), g)

static const uint8_t V1[16] = {0x44, 0x45, 0x4c, 0x4c, 0x4d, 0x00, 0x10, 0x4d,
                               0x80, 0x50, 0xb2, 0xc0, 0x4f, 0x32, 0x51, 0x33};

Test(guid, canonical_text_is_the_mixed_endian_rendering)
{
    guid g;
    char s[GUID_STRLEN + 1];
    cr_assert_eq(GP("4c4c4544-004d-4d10-8050-b2c04f325133", &g), 0);
    cr_assert_arr_eq(g.b, V1, 16);
    guid_format(&g, s);
    cr_assert_str_eq(s, "4c4c4544-004d-4d10-8050-b2c04f325133");
    cr_assert_eq(GP("4C4C4544-004D-4D10-8050-B2C04F325133", &g), 0, "either case");
    cr_assert_arr_eq(g.b, V1, 16);
}

Test(guid, strict_parse_takes_only_the_dashed_form)
{
    guid g = {{0}};
    cr_assert_eq(GP("4c4c4544004d4d108050b2c04f325133", &g), -EINVAL);
    cr_assert_eq(GP("4c4c4544-004d-4d10-8050-b2c04f32513", &g), -EINVAL);
    cr_assert_eq(GP("4c4c4544-004d-4d10-8050-b2c04f3251333", &g), -EINVAL);
    cr_assert_eq(GP("4c4c4544-004d-4d10-8050_b2c04f325133", &g), -EINVAL);
    cr_assert_eq(GP("4c4c4544-004d-4d10-8050-b2c04f32513g", &g), -EINVAL);
    cr_assert_eq(GP("", &g), -EINVAL);
    cr_assert_eq(guid_parse(NULL, 0, &g), -EINVAL);
    cr_assert(guid_is_zero(&g), "a failed parse leaves the output alone");
}

Test(guid, loose_parse_takes_32_digits_without_dashes)
{
    guid g;
    cr_assert_eq(GPL("4C4C4544004D4D108050B2C04F325133", &g), 0);
    cr_assert_arr_eq(g.b, V1, 16);
    cr_assert_eq(GPL("4c4c4544-004d-4d10-8050-b2c04f325133", &g), 0);
    cr_assert_arr_eq(g.b, V1, 16);
    cr_assert_eq(GPL("4c4c4544004d4d108050b2c04f32513", &g), -EINVAL);
    cr_assert_eq(GPL("4c4c4544004d4d108050b2c04f3251-3", &g), -EINVAL);
    cr_assert_eq(GPL("4c4c4544004d4d108050b2c04f325133x", &g), -EINVAL);
}

Test(guid, eq_and_zero)
{
    guid a, b, z = {{0}};
    GP("4c4c4544-004d-4d10-8050-b2c04f325133", &a);
    GPL("4c4c4544004d4d108050b2c04f325133", &b);
    cr_assert(guid_eq(&a, &b));
    cr_assert(guid_is_zero(&z));
    cr_assert_not(guid_is_zero(&a));
    b.b[15] ^= 1;
    cr_assert_not(guid_eq(&a, &b));
}

static void roundtrip(const char *in, const char *want)
{
    netaddr a;
    char out[NETADDR_STRLEN];
    cr_assert_eq(netaddr_parse(in, strlen(in), &a), 0, "%s", in);
    netaddr_format(&a, out, sizeof(out));
    cr_assert_str_eq(out, want);
}

Test(netaddr, parse_and_format)
{
    roundtrip("127.0.0.1:4433", "127.0.0.1:4433");
    roundtrip("[::1]:1080", "[::1]:1080");
    roundtrip("[0:0:0:0:0:0:0:1]:0", "[::1]:0");
    roundtrip("10.1.2.3:65535", "10.1.2.3:65535");
    netaddr a;
    char out[NETADDR_STRLEN];
    netaddr_parse("[2001:db8::1]:80", 16, &a);
    netaddr_format_host(&a, out, sizeof(out));
    cr_assert_str_eq(out, "2001:db8::1");
    cr_assert_eq(netaddr_port(&a), 80);
    cr_assert_eq(netaddr_family(&a), AF_INET6);
}

Test(netaddr, refuses_names_and_bad_ports)
{
    static const char *const bad[] = {
        "localhost:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
        "127.0.0.1:8x", "::1:80",    "[::1]80",    "[127.0.0.1]:80",
        ":80",          "1.2.3:80",  "[::1:80",    "127.0.0.1:123456"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        netaddr a;
        cr_assert_eq(netaddr_parse(bad[i], strlen(bad[i]), &a), -EINVAL, "%s", bad[i]);
        cr_assert_eq(netaddr_family(&a), AF_UNSPEC);
    }
    netaddr a;
    cr_assert_eq(netaddr_parse("1.2.3.4\0:80", 10, &a), -EINVAL, "embedded NUL");
    char out[8];
    netaddr_format(&a, out, sizeof(out));
    cr_assert_str_eq(out, "?");
}

Test(netaddr, loopback_and_equality)
{
    netaddr a, b, c, d;
    netaddr_from_host("127.9.8.7", 9, 1, &a);
    netaddr_from_host("[::1]", 5, 1, &b);
    netaddr_from_host("::ffff:127.0.0.1", 16, 1, &c);
    netaddr_from_host("10.0.0.1", 8, 1, &d);
    cr_assert(netaddr_is_loopback(&a));
    cr_assert(netaddr_is_loopback(&b));
    cr_assert(netaddr_is_loopback(&c));
    cr_assert_not(netaddr_is_loopback(&d));
    netaddr a2;
    netaddr_parse("127.9.8.7:1", 11, &a2);
    cr_assert(netaddr_eq(&a, &a2));
    netaddr_parse("127.9.8.7:2", 11, &a2);
    cr_assert_not(netaddr_eq(&a, &a2));
    cr_assert_not(netaddr_eq(&a, &b));
}
