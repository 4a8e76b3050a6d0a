/* Per-tunnel objects stay in their jemalloc size classes (8 KiB-class rounding would cost up to a
 * class step per idle tunnel: 64 bytes here are 6 MB at 100k tunnels). Classes from 128 up: 128,
 * 160, 192, 224, 256, 320, 384, 448, 512. A field added to one of these structs that crosses a
 * boundary fails here: move it out of the idle tunnel, or raise the bound knowingly (and measure
 * with bench/fleet idle-hold). */
#include "apf_int.h"
#include "tunnel_int.h"

#include <criterion/criterion.h>

Test(tunnel_size, struct_tunnel_fits_384)
{
    cr_assert_leq(sizeof(struct tunnel), 384, "struct tunnel is %zu bytes", sizeof(struct tunnel));
}

Test(tunnel_size, apf_session_fits_256)
{
    cr_assert_leq(sizeof(struct apf_session), 256, "struct apf_session is %zu bytes",
                  sizeof(struct apf_session));
}
