/* Compositing kernels for the render loop: bilinear resampling of 8-bit planes through an
 * affine map, "over" blending of premultiplied layers, and sprite blending into I420.
 *
 * Optional: setup.py builds this when a C compiler is at hand, and shotcraft.draw.kernels
 * falls back to Pillow and numpy (the same pictures, slower) when it is not. Every function
 * releases the GIL (around enough work to be worth it), so the render loop's drawing threads
 * run side by side.
 *
 * Sampling follows Pillow's AFFINE convention: output pixel (u, v) reads the source at
 *   x = a (u + 0.5) + b (v + 0.5) + c,  y = d (u + 0.5) + e (v + 0.5) + f
 * (pixel centres at +0.5); samples outside the source read `fill` (or nothing, for layers).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define GATHER_SIMD 1
#endif

typedef struct {
    double a, b, c, d, e, f;
} affine;

/* Loops that vectorise well are built twice where the toolchain can choose at load time
 * (GCC ifuncs on x86-64 Linux): for AVX2, and for the baseline. Elsewhere, baseline only. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define WIDE __attribute__((target_clones("avx2", "default")))
#else
#define WIDE
#endif

/* Where output rows and columns read the source when the map neither rolls nor shears:
 * per output index from u0 to n, the first source index (edge-clamped) and the weight of the next one
 * (0..256). Pixels whose centre falls outside the source are marked with index -1. */
WIDE static void axis_table(int u0, int n, double scale, double offset, int size, int32_t *idx,
                            uint16_t *wt) {
    for (int u = u0; u < n; u++) {
        double x = scale * (u + 0.5) + offset - 0.5;
        if (x < -0.5 || x > size - 0.5) {
            idx[u] = -1;
            wt[u] = 0;
            continue;
        }
        int i = (int)floor(x);
        int w = (int)((x - i) * 256.0 + 0.5);
        if (w == 256) { i += 1; w = 0; }
        if (i < 0) { i = 0; w = 0; }
        if (i >= size - 1) { i = size - 1; w = 0; }
        idx[u] = i;
        wt[u] = (uint16_t)w;
    }
}

/* lerp_row for a pan: every column one step on from the last, with one weight. */
WIDE static void shift_row(uint8_t *out, int dw, const uint8_t *r0, const uint8_t *r1,
                           uint32_t fy, int x0, uint16_t fx, uint8_t *tmp, int lo, int hi) {
    uint16_t wy1 = (uint16_t)fy, wy0 = (uint16_t)(256 - fy);
    for (int x = lo; x <= hi; x++) tmp[x] = (uint8_t)((r0[x] * wy0 + r1[x] * wy1 + 128) >> 8);
    tmp[hi + 1] = tmp[hi];
    const uint8_t *t = tmp + x0;
    uint16_t wx1 = fx, wx0 = (uint16_t)(256 - fx);
    for (int u = 0; u < dw; u++) out[u] = (uint8_t)((t[u] * wx0 + t[u + 1] * wx1 + 128) >> 8);
}

static int have_ssse3 = 0, have_sse41 = 0; /* set when the module loads */

#ifdef GATHER_SIMD
/* The horizontal lerp of a zoom, eight columns at a time. Within a block the columns read
 * at most 16 neighbouring bytes of tmp, so one 16-byte load and one byte shuffle (its mask
 * made once per plan) give each column's two neighbours; the lerp runs in 16-bit lanes.
 * Blocks that reach wider (strong reductions) go to the scalar loop. tmp has 16 bytes of
 * room past its end. Returns how far it got: the first column it left. */
__attribute__((target("ssse3"))) static int hgather_simd(uint8_t *out, const uint8_t *tmp,
                                                         const int32_t *xi, const uint16_t *xw,
                                                         const uint8_t *masks, int u0, int u1) {
    const __m128i zero = _mm_setzero_si128(), full = _mm_set1_epi16(256);
    const __m128i half = _mm_set1_epi16(128);
    int u = u0;
    for (; u + 8 <= u1; u += 8) {
        const uint8_t *mk = masks + (size_t)(u - u0) * 2;
        if (mk[0] == 0xff) break; /* too wide: scalar from here */
        __m128i src = _mm_loadu_si128((const __m128i *)(tmp + xi[u]));
        __m128i ab = _mm_shuffle_epi8(src, _mm_loadu_si128((const __m128i *)mk));
        __m128i a = _mm_unpacklo_epi8(ab, zero), b = _mm_unpackhi_epi8(ab, zero);
        __m128i w = _mm_loadu_si128((const __m128i *)(xw + u));
        __m128i y = _mm_add_epi16(_mm_mullo_epi16(a, _mm_sub_epi16(full, w)), _mm_mullo_epi16(b, w));
        y = _mm_srli_epi16(_mm_add_epi16(y, half), 8);
        _mm_storel_epi64((__m128i *)(out + u), _mm_packus_epi16(y, y));
    }
    return u;
}
#endif

#ifdef GATHER_SIMD
/* A pan's row, fused: out[u] = the 2x2 block at (x0 + u, row pair r0/r1) lerped with weights
 * fx, fy, sixteen columns at a time in 16-bit lanes, with no temporary row. The rounding is
 * shift_row's exactly (vertical first, each lerp rounded), so either draws the same bytes.
 * With alpha rows (a0, a1) the samples are a premultiplied layer laid over out, as over_rows
 * does: blocks whose alphas are all 0 are skipped, all 255 copied. Returns the first column
 * it left (the scalar code does the rest). Needs x0 + dw < the source width: every load of
 * 16 bytes at column x0 + u + 1 <= x0 + dw - 15 stays inside the row. */
__attribute__((target("avx2"))) static inline __m256i lerp16(const uint8_t *r0, const uint8_t *r1,
                                                             __m256i wy0, __m256i wy1,
                                                             __m256i wx0, __m256i wx1, int fy) {
    const __m256i half = _mm256_set1_epi16(128);
    __m256i t0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)r0));
    __m256i t1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(r0 + 1)));
    if (fy) { /* weight 0 on the second row: the first row as it is */
        __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)r1));
        __m256i b1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(r1 + 1)));
        t0 = _mm256_srli_epi16(_mm256_add_epi16(_mm256_add_epi16(_mm256_mullo_epi16(t0, wy0),
                                                                 _mm256_mullo_epi16(b0, wy1)),
                                                half), 8);
        t1 = _mm256_srli_epi16(_mm256_add_epi16(_mm256_add_epi16(_mm256_mullo_epi16(t1, wy0),
                                                                 _mm256_mullo_epi16(b1, wy1)),
                                                half), 8);
    }
    return _mm256_srli_epi16(
        _mm256_add_epi16(_mm256_add_epi16(_mm256_mullo_epi16(t0, wx0), _mm256_mullo_epi16(t1, wx1)),
                         half), 8);
}

__attribute__((target("avx2"))) static inline __m128i pack16(__m256i v) {
    return _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

__attribute__((target("avx2"))) static int shift_row_avx2(uint8_t *out, int dw, const uint8_t *r0,
                                                          const uint8_t *r1, const uint8_t *a0,
                                                          const uint8_t *a1, uint32_t fy, int x0,
                                                          uint16_t fx) {
    const __m256i wy1 = _mm256_set1_epi16((int16_t)fy), wy0 = _mm256_set1_epi16((int16_t)(256 - fy));
    const __m256i wx1 = _mm256_set1_epi16((int16_t)fx), wx0 = _mm256_set1_epi16((int16_t)(256 - fx));
    r0 += x0, r1 += x0;
    int u = 0;
    if (a0 == NULL) {
        for (; u + 16 <= dw; u += 16)
            _mm_storeu_si128((__m128i *)(out + u), pack16(lerp16(r0 + u, r1 + u, wy0, wy1, wx0, wx1, (int)fy)));
        return u;
    }
    a0 += x0, a1 += x0;
    const __m128i ones = _mm_set1_epi8((char)0xff);
    const __m256i k255 = _mm256_set1_epi16(255), half = _mm256_set1_epi16(128);
    for (; u + 16 <= dw; u += 16) {
        /* the 17 alphas of each row this block reads: all 0, nothing to lay; all 255, a copy */
        __m128i p0 = _mm_loadu_si128((const __m128i *)(a0 + u)), p1 = _mm_loadu_si128((const __m128i *)(a0 + u + 1));
        __m128i q0 = _mm_loadu_si128((const __m128i *)(a1 + u)), q1 = _mm_loadu_si128((const __m128i *)(a1 + u + 1));
        __m128i any = _mm_or_si128(_mm_or_si128(p0, p1), _mm_or_si128(q0, q1));
        if (_mm_testz_si128(any, any)) continue;
        __m128i all = _mm_and_si128(_mm_and_si128(p0, p1), _mm_and_si128(q0, q1));
        __m256i p = lerp16(r0 + u, r1 + u, wy0, wy1, wx0, wx1, (int)fy);
        if (_mm_testc_si128(all, ones)) {
            _mm_storeu_si128((__m128i *)(out + u), pack16(p));
            continue;
        }
        __m256i a = lerp16(a0 + u, a1 + u, wy0, wy1, wx0, wx1, (int)fy);
        __m256i d = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(out + u)));
        __m256i x = _mm256_add_epi16(_mm256_mullo_epi16(d, _mm256_sub_epi16(k255, a)), half);
        __m256i r = _mm256_add_epi16(p, _mm256_srli_epi16(_mm256_add_epi16(x, _mm256_srli_epi16(x, 8)), 8));
        _mm_storeu_si128((__m128i *)(out + u), pack16(r));
    }
    return u;
}

/* shift_row_avx2 for every column: the last (dw % 16) in scalar code, rounded alike. */
static inline uint8_t vlerp(const uint8_t *r0, const uint8_t *r1, int x, uint32_t fy) {
    return (uint8_t)((r0[x] * (256 - fy) + r1[x] * fy + 128) >> 8);
}

static void shift_row_fused(uint8_t *out, int dw, const uint8_t *r0, const uint8_t *r1,
                            const uint8_t *a0, const uint8_t *a1, uint32_t fy, int x0,
                            uint16_t fx) {
    for (int u = shift_row_avx2(out, dw, r0, r1, a0, a1, fy, x0, fx); u < dw; u++) {
        int x = x0 + u;
        uint32_t p = (vlerp(r0, r1, x, fy) * (256u - fx) + vlerp(r0, r1, x + 1, fy) * fx + 128) >> 8;
        if (a0 == NULL) { out[u] = (uint8_t)p; continue; }
        uint32_t a = (vlerp(a0, a1, x, fy) * (256u - fx) + vlerp(a0, a1, x + 1, fy) * fx + 128) >> 8;
        uint16_t t = (uint16_t)(out[u] * (255 - a) + 128);
        uint16_t r = (uint16_t)(p + ((t + (t >> 8)) >> 8));
        out[u] = (uint8_t)(r > 255 ? 255 : r);
    }
}
#endif

static int have_avx2 = 0;

/* One output row from two source rows: vertical lerp into tmp over the columns needed,
 * then horizontal lerp. `shift` (constant column step 1, constant weight) vectorises. */
WIDE static void lerp_row(uint8_t *out, int dw, const uint8_t *r0, const uint8_t *r1, uint32_t fy,
                     const int32_t *xi, const uint16_t *xw, int shift, uint8_t *tmp, int lo,
                     int hi, int u0, int u1, const uint8_t *masks) {
    if (shift) {
        shift_row(out, dw, r0, r1, fy, xi[0], xw[0], tmp, lo, hi);
        return;
    }
    uint16_t wy1 = (uint16_t)fy, wy0 = (uint16_t)(256 - fy);
    for (int x = lo; x <= hi; x++) tmp[x] = (uint8_t)((r0[x] * wy0 + r1[x] * wy1 + 128) >> 8);
    tmp[hi + 1] = tmp[hi];
    /* columns u0..u1 read the source (the map is monotone); the rest are left alone.
     * tmp[hi + 1] repeats tmp[hi]: at the source's edge the weight there is 0 */
    int u = u0;
#ifdef GATHER_SIMD
    if (masks != NULL) u = hgather_simd(out, tmp, xi, xw, masks, u0, u1);
#endif
    for (; u < u1; u++) {
        int i = xi[u];
        out[u] = (uint8_t)((tmp[i] * (256 - xw[u]) + tmp[i + 1] * xw[u] + 128) >> 8);
    }
}

typedef struct {
    int32_t *xi, *yi;
    uint16_t *xw, *yw;
    uint8_t *tmp, *tmp2;
    int lo, hi, shift;
    int u0, u1;     /* the output columns that read the source */
    uint8_t *masks; /* per block of 8 columns from u0: the shuffle that gathers them */
} plan_t;

/* Tables for a map without roll; returns 0 (and plans nothing) when it rolls or shears. */
static int make_plan(plan_t *p, int dw, int dh, int v0, int v1, int sw, int sh, affine m) {
    memset(p, 0, sizeof(*p));
    if (m.b != 0.0 || m.d != 0.0) return 0;
    p->xi = malloc(sizeof(int32_t) * dw);
    p->yi = malloc(sizeof(int32_t) * dh);
    p->xw = malloc(sizeof(uint16_t) * dw);
    p->yw = malloc(sizeof(uint16_t) * dh);
    p->tmp = calloc((size_t)sw + 18, 1); /* a 16-byte load may start at tmp[hi] */
    p->tmp2 = calloc((size_t)sw + 18, 1);
    if (!p->xi || !p->yi || !p->xw || !p->yw || !p->tmp || !p->tmp2) return -1;
    axis_table(0, dw, m.a, m.c, sw, p->xi, p->xw);
    axis_table(v0, v1, m.e, m.f, sh, p->yi, p->yw); /* only the rows drawn */
    p->lo = sw;
    p->hi = -1;
    int inside = 1;
    p->u0 = dw;
    p->u1 = 0;
    for (int u = 0; u < dw; u++) {
        if (p->xi[u] < 0) { inside = 0; continue; }
        if (u < p->u0) p->u0 = u;
        p->u1 = u + 1;
        if (p->xi[u] < p->lo) p->lo = p->xi[u];
        int j = p->xi[u] + 1 < sw ? p->xi[u] + 1 : sw - 1;
        if (j > p->hi) p->hi = j;
    }
    /* every column one step on from the last, with one weight, and its right neighbour in */
    p->shift = inside && fabs(m.a - 1.0) < 1e-9 && p->xi[0] + dw < sw;
    if (p->shift)
        for (int u = 1; u < dw; u++)
            if (p->xi[u] != p->xi[0] + u || p->xw[u] != p->xw[0]) { p->shift = 0; break; }
    if (p->shift) p->hi = p->xi[0] + dw;
    if (!p->shift && have_ssse3 && p->u1 - p->u0 >= 8) {
        int blocks = (p->u1 - p->u0) / 8;
        p->masks = malloc((size_t)blocks * 16);
        if (!p->masks) return -1;
        for (int k = 0; k < blocks; k++) {
            const int32_t *x = p->xi + p->u0 + 8 * k;
            uint8_t *mk = p->masks + (size_t)k * 16;
            for (int j = 0; j < 8; j++) {
                int off = x[j] - x[0];
                if (off < 0 || off > 14) { mk[0] = 0xff; break; } /* not this way */
                mk[j] = (uint8_t)off;      /* the left neighbour */
                mk[8 + j] = (uint8_t)(off + 1); /* and the right */
            }
        }
    }
    return 1;
}

static void free_plan(plan_t *p) {
    free(p->xi); free(p->yi); free(p->xw); free(p->yw); free(p->tmp); free(p->tmp2);
    free(p->masks);
}

/* Bilinear from the 2x2 block at p (weights fx, fy in 0..256): no bounds to check. Rows
 * are lerped and rounded first, then the two results: as the 16-bit SIMD lanes do it. */
static inline uint8_t lerp2(uint32_t t0, uint32_t t1, uint32_t b0, uint32_t b1, uint32_t fx,
                            uint32_t fy) {
    uint32_t top = (t0 * (256 - fx) + t1 * fx + 128) >> 8;
    uint32_t bot = (b0 * (256 - fx) + b1 * fx + 128) >> 8;
    return (uint8_t)((top * (256 - fy) + bot * fy + 128) >> 8);
}

static inline uint8_t bilerp(const uint8_t *p, size_t stride, uint32_t fx, uint32_t fy) {
    return lerp2(p[0], p[1], p[stride], p[stride + 1], fx, fy);
}

/* A rolled map's walk along output row v, in 16.16 fixed point. */
typedef struct {
    int64_t x, y, dx, dy;
} walk_t;

static walk_t row_walk(affine m, int v) {
    const double one = 65536.0;
    walk_t w = {llround((m.a * 0.5 + m.b * (v + 0.5) + m.c - 0.5) * one),
                llround((m.d * 0.5 + m.e * (v + 0.5) + m.f - 0.5) * one), llround(m.a * one),
                llround(m.d * one)};
    return w;
}

/* Sample at (x, y) near the source's edge: neighbours beyond it clamp to the edge. */
static inline uint8_t bilerp_edge(const uint8_t *src, int sw, int sh, int64_t x, int64_t y) {
    int x0 = (int)(x >> 16), y0 = (int)(y >> 16); /* floor: arithmetic shift */
    uint32_t fx = ((uint32_t)(x & 0xffff) + 128) >> 8;
    uint32_t fy = ((uint32_t)(y & 0xffff) + 128) >> 8;
    int x1 = x0 + 1, y1 = y0 + 1;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > sw - 1) x1 = sw - 1;
    if (y1 > sh - 1) y1 = sh - 1;
    const uint8_t *r0 = src + (size_t)y0 * sw, *r1 = src + (size_t)y1 * sw;
    return lerp2(r0[x0], r0[x1], r1[x0], r1[x1], fx, fy);
}

#ifdef GATHER_SIMD
/* Eight pixels of a rolled walk at once, when they read whole 2x2 blocks from at most three
 * neighbouring source rows, within 16 bytes of each other (a roll of a few degrees: nearly
 * every block). Byte shuffles gather the four neighbours of each pixel, a byte blend picks
 * its pair of rows; the lerps run in 16-bit lanes, rounded as lerp2 rounds. With alpha ==
 * NULL, out gets the samples of src; else src is a premultiplied layer laid over out with
 * that alpha. Returns 0, having written nothing, when the block does not qualify. */
__attribute__((target("sse4.1"))) static int roll8(uint8_t *out, const uint8_t *src,
                                                   const uint8_t *alpha, int sw, int sh,
                                                   walk_t w) {
    int64_t xe = w.x + 7 * w.dx, ye = w.y + 7 * w.dy;
    if (w.dx <= 0 || w.dx > (1 << 20) || w.dy > (1 << 20) || w.dy < -(1 << 20) || w.x < 0 ||
        w.y < 0 || ye < 0)
        return 0;
    int x0 = (int)(w.x >> 16), y0 = (int)(w.y >> 16), y7 = (int)(ye >> 16);
    int top = y0 < y7 ? y0 : y7, rows = (y0 < y7 ? y7 - y0 : y0 - y7) + 2;
    if (rows > 3 || (xe >> 16) - x0 > 14 || (xe >> 16) + 1 > sw - 1 || top + rows > sh)
        return 0;
    size_t o = (size_t)top * sw + (size_t)x0;
    if (o + (size_t)(rows - 1) * sw + 16 > (size_t)sw * sh) return 0; /* loads stay inside */
    const __m128i zero = _mm_setzero_si128(), full = _mm_set1_epi16(256);
    const __m128i half = _mm_set1_epi16(128), h32 = _mm_set1_epi32(128);
    const __m128i low = _mm_set1_epi32(0xffff);
    int32_t dx = (int32_t)w.dx, dy = (int32_t)w.dy;
    __m128i rx = _mm_set1_epi32((int32_t)(w.x & 0xffff));
    __m128i ry = _mm_set1_epi32((int32_t)(w.y & 0xffff));
    __m128i xa = _mm_add_epi32(rx, _mm_setr_epi32(0, dx, 2 * dx, 3 * dx));
    __m128i xb = _mm_add_epi32(rx, _mm_setr_epi32(4 * dx, 5 * dx, 6 * dx, 7 * dx));
    __m128i ya = _mm_add_epi32(ry, _mm_setr_epi32(0, dy, 2 * dy, 3 * dy));
    __m128i yb = _mm_add_epi32(ry, _mm_setr_epi32(4 * dy, 5 * dy, 6 * dy, 7 * dy));
    __m128i off = _mm_packs_epi32(_mm_srai_epi32(xa, 16), _mm_srai_epi32(xb, 16));
    __m128i mask = _mm_packus_epi16(off, _mm_add_epi16(off, _mm_set1_epi16(1)));
    /* which pair of rows each pixel reads: 0 (top, top + 1) or 1 (top + 1, top + 2) */
    __m128i row = _mm_packs_epi32(_mm_srai_epi32(ya, 16), _mm_srai_epi32(yb, 16));
    row = _mm_add_epi16(row, _mm_set1_epi16((int16_t)(y0 - top)));
    __m128i below = _mm_cmpgt_epi16(row, zero);
    below = _mm_packs_epi16(below, below); /* 0xff where the lower pair: both halves */
#define WEIGHT(v) _mm_srli_epi32(_mm_add_epi32(_mm_and_si128(v, low), h32), 8)
    __m128i fx = _mm_packs_epi32(WEIGHT(xa), WEIGHT(xb));
    __m128i fy = _mm_packs_epi32(WEIGHT(ya), WEIGHT(yb));
#undef WEIGHT
    __m128i gx = _mm_sub_epi16(full, fx), gy = _mm_sub_epi16(full, fy);
    __m128i t, b;
#define GATHER(p)                                                                          \
    do {                                                                                   \
        __m128i r0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p)), mask);         \
        __m128i r1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((p) + sw)), mask);  \
        __m128i r2 = rows == 3                                                             \
            ? _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((p) + 2 * (size_t)sw)), mask) \
            : r1;                                                                          \
        t = _mm_blendv_epi8(r0, r1, below);                                                \
        b = _mm_blendv_epi8(r1, r2, below);                                                \
    } while (0)
#define HLERP(v)                                                                           \
    _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(_mm_mullo_epi16(_mm_unpacklo_epi8(v, zero), gx), \
                                               _mm_mullo_epi16(_mm_unpackhi_epi8(v, zero), fx)), \
                                 half),                                                    \
                   8)
#define LERP()                                                                             \
    _mm_srli_epi16(                                                                        \
        _mm_add_epi16(_mm_add_epi16(_mm_mullo_epi16(HLERP(t), gy), _mm_mullo_epi16(HLERP(b), fy)), \
                      half),                                                               \
        8)
    if (alpha == NULL) {
        GATHER(src + o);
        __m128i r = LERP();
        _mm_storel_epi64((__m128i *)out, _mm_packus_epi16(r, r));
        return 1;
    }
    GATHER(alpha + o);
    __m128i any = _mm_or_si128(t, b);
    if (_mm_testz_si128(any, any)) return 1; /* all four alphas 0 everywhere: out stays */
    __m128i a = LERP();
    GATHER(src + o);
    __m128i p = LERP();
#undef GATHER
#undef HLERP
#undef LERP
    /* out = p + out * (255 - a) / 255, rounded as over_rows does */
    __m128i d = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)out), zero);
    __m128i x = _mm_add_epi16(_mm_mullo_epi16(d, _mm_sub_epi16(_mm_set1_epi16(255), a)), half);
    __m128i r = _mm_add_epi16(p, _mm_srli_epi16(_mm_add_epi16(x, _mm_srli_epi16(x, 8)), 8));
    _mm_storel_epi64((__m128i *)out, _mm_packus_epi16(r, r));
    return 1;
}
#define ROLL8(out, src, alpha) (have_sse41 && roll8(out, src, alpha, sw, sh, w))
#else
#define ROLL8(out, src, alpha) 0
#endif

/* Any affine map (rolled): per pixel, stepped along the row, eight at a time where roll8
 * can. Where the whole 2x2 block lies inside the source (almost everywhere) one unsigned
 * compare per axis replaces the clamps. */
static void sample_general(uint8_t *out, int ua, int dw, int v, const uint8_t *src, int sw,
                           int sh, affine m, int fill) {
    walk_t w = row_walk(m, v);
    w.x += ua * w.dx, w.y += ua * w.dy;
    const int64_t lo = -32768, hix = (int64_t)sw * 65536 - 32768, hiy = (int64_t)sh * 65536 - 32768;
    const uint64_t inx = (uint64_t)(sw - 1) << 16, iny = (uint64_t)(sh - 1) << 16;
    for (int u = ua; u < dw;) {
        int n = dw - u < 8 ? dw - u : 8;
        if (n == 8 && ROLL8(out + u, src, NULL)) {
            u += 8, w.x += 8 * w.dx, w.y += 8 * w.dy;
            continue;
        }
        for (int k = 0; k < n; k++, u++, w.x += w.dx, w.y += w.dy) {
            if ((uint64_t)w.x < inx && (uint64_t)w.y < iny) {
                uint32_t fx = ((uint32_t)(w.x & 0xffff) + 128) >> 8;
                uint32_t fy = ((uint32_t)(w.y & 0xffff) + 128) >> 8;
                out[u] = bilerp(src + (size_t)(w.y >> 16) * sw + (w.x >> 16), (size_t)sw, fx, fy);
            } else if (w.x < lo || w.y < lo || w.x > hix || w.y > hiy) {
                out[u] = (uint8_t)fill;
            } else {
                out[u] = bilerp_edge(src, sw, sh, w.x, w.y);
            }
        }
    }
}

/* "over" through a rolled map: the layer and its alpha sampled in one walk and laid over
 * dst; beyond the layer's edge dst stays, and so it does where all four alphas are 0. */
static void over_general(uint8_t *out, int ua, int dw, int v, const uint8_t *pl,
                         const uint8_t *al, int sw, int sh, affine m) {
    walk_t w = row_walk(m, v);
    w.x += ua * w.dx, w.y += ua * w.dy;
    const int64_t lo = -32768, hix = (int64_t)sw * 65536 - 32768, hiy = (int64_t)sh * 65536 - 32768;
    const uint64_t inx = (uint64_t)(sw - 1) << 16, iny = (uint64_t)(sh - 1) << 16;
    for (int u = ua; u < dw;) {
        int n = dw - u < 8 ? dw - u : 8;
        if (n == 8 && ROLL8(out + u, pl, al)) {
            u += 8, w.x += 8 * w.dx, w.y += 8 * w.dy;
            continue;
        }
        for (int k = 0; k < n; k++, u++, w.x += w.dx, w.y += w.dy) {
            uint8_t p, a;
            if ((uint64_t)w.x < inx && (uint64_t)w.y < iny) {
                size_t o = (size_t)(w.y >> 16) * sw + (size_t)(w.x >> 16);
                const uint8_t *q = al + o;
                if ((q[0] | q[1] | q[sw] | q[sw + 1]) == 0) continue;
                uint32_t fx = ((uint32_t)(w.x & 0xffff) + 128) >> 8;
                uint32_t fy = ((uint32_t)(w.y & 0xffff) + 128) >> 8;
                a = bilerp(q, (size_t)sw, fx, fy);
                p = bilerp(pl + o, (size_t)sw, fx, fy);
            } else if (w.x < lo || w.y < lo || w.x > hix || w.y > hiy) {
                continue;
            } else {
                a = bilerp_edge(al, sw, sh, w.x, w.y);
                p = bilerp_edge(pl, sw, sh, w.x, w.y);
            }
            uint16_t t = (uint16_t)(out[u] * (255 - a) + 128);
            uint16_t r = (uint16_t)(p + ((t + (t >> 8)) >> 8));
            out[u] = (uint8_t)(r > 255 ? 255 : r);
        }
    }
}

#define STRIP 256 /* output columns drawn together down a rolled frame */

WIDE static int sample_rows(uint8_t *dst, int dw, int dh, int v0, int v1, const uint8_t *src, int sw,
                       int sh, affine m, int fill) {
    plan_t p;
    int ok = make_plan(&p, dw, dh, v0, v1, sw, sh, m);
    if (ok < 0) { free_plan(&p); return -1; }
    if (!ok) { /* in strips of columns, so the slanted rows they read stay in cache */
        for (int ua = 0; ua < dw; ua += STRIP)
            for (int v = v0; v < v1; v++)
                sample_general(dst + (size_t)v * dw, ua, ua + STRIP < dw ? ua + STRIP : dw, v,
                               src, sw, sh, m, fill);
        return 0;
    }
    for (int v = v0; v < v1; v++) {
        uint8_t *out = dst + (size_t)v * dw;
        int y = p.yi[v];
        if (y < 0 || p.hi < 0) { memset(out, fill, dw); continue; }
        if (!p.shift) memset(out, fill, dw);  /* columns outside stay filled */
        int y1 = y + 1 < sh ? y + 1 : y;
#ifdef GATHER_SIMD
        if (p.shift && have_avx2) {
            shift_row_fused(out, dw, src + (size_t)y * sw, src + (size_t)y1 * sw, NULL, NULL,
                            p.yw[v], p.xi[0], p.xw[0]);
            continue;
        }
#endif
        lerp_row(out, dw, src + (size_t)y * sw, src + (size_t)y1 * sw, p.yw[v], p.xi, p.xw,
                 p.shift, p.tmp, p.lo, p.hi, p.u0, p.u1, p.masks);
    }
    free_plan(&p);
    return 0;
}

/* dst = layer + dst * (1 - alpha), the layer premultiplied (p <= a); outside it, dst stays. */
WIDE static int over_rows(uint8_t *dst, int dw, int dh, int v0, int v1, const uint8_t *pl,
                     const uint8_t *al, int sw, int sh, affine m) {
    plan_t p;
    int ok = make_plan(&p, dw, dh, v0, v1, sw, sh, m);
    if (ok < 0) { free_plan(&p); return -1; }
    if (!ok) {
        for (int ua = 0; ua < dw; ua += STRIP)
            for (int v = v0; v < v1; v++)
                over_general(dst + (size_t)v * dw, ua, ua + STRIP < dw ? ua + STRIP : dw, v, pl,
                             al, sw, sh, m);
        return 0;
    }
    uint8_t *ps = NULL, *as = NULL;
    ps = malloc((size_t)dw);
    as = malloc((size_t)dw);
    if (!ps || !as) { free(ps); free(as); free_plan(&p); return -1; }
    for (int v = v0; v < v1; v++) {
        uint8_t *out = dst + (size_t)v * dw;
        int y = p.yi[v];
        if (y < 0 || p.hi < 0) continue;
        int y1 = y + 1 < sh ? y + 1 : y;
#ifdef GATHER_SIMD
        if (p.shift && have_avx2) {
            shift_row_fused(out, dw, pl + (size_t)y * sw, pl + (size_t)y1 * sw,
                            al + (size_t)y * sw, al + (size_t)y1 * sw, p.yw[v], p.xi[0], p.xw[0]);
            continue;
        }
#endif
        /* transparent where the layer is not: columns outside it add nothing */
        if (!p.shift) { memset(ps, 0, dw); memset(as, 0, dw); }
        lerp_row(ps, dw, pl + (size_t)y * sw, pl + (size_t)y1 * sw, p.yw[v], p.xi, p.xw,
                 p.shift, p.tmp, p.lo, p.hi, p.u0, p.u1, p.masks);
        lerp_row(as, dw, al + (size_t)y * sw, al + (size_t)y1 * sw, p.yw[v], p.xi, p.xw,
                 p.shift, p.tmp2, p.lo, p.hi, p.u0, p.u1, p.masks);
        for (int u = 0; u < dw; u++) {
            uint16_t x = (uint16_t)(out[u] * (255 - as[u]) + 128);
            uint16_t r = (uint16_t)(ps[u] + ((x + (x >> 8)) >> 8));
            out[u] = (uint8_t)(r > 255 ? 255 : r);
        }
    }
    free(ps);
    free(as);
    free_plan(&p);
    return 0;
}

/* Blend a premultiplied RGBa piece (pw x ph, 4 bytes a pixel) into I420 planes at (x0, y0),
 * BT.601 limited range in 8.8 fixed point: luma per pixel, chroma per 2x2 block from the
 * block's premultiplied sums. `opacity` scales the piece. Parts outside the frame are cut. */
static inline uint8_t over_fixed(int32_t premul256, uint32_t under, uint32_t a) {
    /* (premul256 + under * (255 - a) * 256 / 255) / 256, rounded */
    uint32_t t = under * (255 - a);
    int32_t r = (premul256 + (int32_t)(t + (t >> 8)) + 128) >> 8;
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

/* A row of luma: piece pixels q (RGBa) over out. Written without branches (a pixel whose
 * alpha comes to 0 keeps its byte by a select) so that it vectorises. */
WIDE static void blend_y_row(uint8_t *restrict out, const uint8_t *restrict q, int n, int32_t op) {
    for (int i = 0; i < n; i++) {
        const uint8_t *p = q + 4 * i;
        int32_t a = (p[3] * op) >> 8;
        /* 256 * (16 a / 255 + 0.2568 R + 0.5041 G + 0.0979 B), premultiplied */
        int32_t y = (((66 * p[0] + 129 * p[1] + 25 * p[2]) * op) >> 8) + 16 * a + (a >> 4);
        uint8_t r = over_fixed(y, out[i], (uint32_t)a);
        out[i] = a == 0 ? out[i] : r;
    }
}

/* A row of chroma blocks: the 2x2 blocks of piece rows q0 and q1 over U and V. */
WIDE static void blend_uv_row(uint8_t *restrict U, uint8_t *restrict V, const uint8_t *restrict q0,
                              const uint8_t *restrict q1, int n, int32_t op) {
    for (int cx = 0; cx < n; cx++) {
        const uint8_t *s0 = q0 + 8 * cx, *s1 = q1 + 8 * cx;
        int32_t sa = s0[3] + s0[7] + s1[3] + s1[7];
        int32_t sr = s0[0] + s0[4] + s1[0] + s1[4];
        int32_t sg = s0[1] + s0[5] + s1[1] + s1[5];
        int32_t sb = s0[2] + s0[6] + s1[2] + s1[6];
        int32_t a = (sa * op) >> 10;
        int32_t c = 128 * a + (a >> 1);
        int32_t u = ((-38 * sr - 74 * sg + 112 * sb) * op) / 1024 + c;
        int32_t v = ((112 * sr - 94 * sg - 18 * sb) * op) / 1024 + c;
        uint8_t ru = over_fixed(u, U[cx], (uint32_t)a), rv = over_fixed(v, V[cx], (uint32_t)a);
        U[cx] = sa == 0 ? U[cx] : ru;
        V[cx] = sa == 0 ? V[cx] : rv;
    }
}

static void blend_i420(uint8_t *Y, uint8_t *U, uint8_t *V, int W, int H, const uint8_t *px, int pw,
                       int ph, int x0, int y0, double opacity) {
    int32_t op = (int32_t)((opacity < 0 ? 0 : opacity > 1 ? 1 : opacity) * 256.0 + 0.5);
    int i0 = x0 < 0 ? -x0 : 0, i1 = x0 + pw > W ? W - x0 : pw;
    int j0 = y0 < 0 ? -y0 : 0, j1 = y0 + ph > H ? H - y0 : ph;
    if (i1 <= i0 || j1 <= j0) return;
    for (int j = j0; j < j1; j++)
        blend_y_row(Y + (size_t)(y0 + j) * W + x0 + i0, px + ((size_t)j * pw + i0) * 4, i1 - i0, op);
    if (!((x0 | y0 | pw | ph) & 1) && i0 == 0 && j0 == 0 && i1 == pw && j1 == ph) {
        /* aligned to the chroma grid and inside the frame: whole blocks, no checks */
        for (int cy = 0; cy < ph / 2; cy++) {
            const uint8_t *q0 = px + (size_t)(2 * cy) * pw * 4;
            size_t o = (size_t)(y0 / 2 + cy) * (W / 2) + x0 / 2;
            blend_uv_row(U + o, V + o, q0, q0 + (size_t)pw * 4, pw / 2, op);
        }
        return;
    }
    /* chroma: every 2x2 block the piece touches (inside the frame) */
    int cx0 = (x0 + i0) / 2, cx1 = (x0 + i1 + 1) / 2, cy0 = (y0 + j0) / 2, cy1 = (y0 + j1 + 1) / 2;
    for (int cy = cy0; cy < cy1; cy++) {
        for (int cx = cx0; cx < cx1; cx++) {
            int32_t sr = 0, sg = 0, sb = 0, sa = 0;
            for (int dy = 0; dy < 2; dy++) {
                int j = 2 * cy + dy - y0;
                if (j < j0 || j >= j1) continue;
                for (int dx = 0; dx < 2; dx++) {
                    int i = 2 * cx + dx - x0;
                    if (i < i0 || i >= i1) continue;
                    const uint8_t *q = px + ((size_t)j * pw + i) * 4;
                    sr += q[0]; sg += q[1]; sb += q[2]; sa += q[3];
                }
            }
            if (sa == 0) continue;
            /* means of the four (sums / 4), scaled by the opacity (/ 256): / 1024 */
            int32_t a = (sa * op) >> 10;
            int32_t c = 128 * a + (a >> 1);
            int32_t u = ((-38 * sr - 74 * sg + 112 * sb) * op) / 1024 + c;
            int32_t v = ((112 * sr - 94 * sg - 18 * sb) * op) / 1024 + c;
            size_t o = (size_t)cy * (W / 2) + cx;
            U[o] = over_fixed(u, U[o], (uint32_t)a);
            V[o] = over_fixed(v, V[o], (uint32_t)a);
        }
    }
}

#ifdef GATHER_SIMD
/* One RGBa pixel bilinear from its 2x2 block (p0: two pixels of the upper row, p1: of the
 * lower), all four channels at once: pairs of horizontal neighbours are lerped by one madd
 * (sums up to 65280, exact in 32 bits), then the two rows. The same integer as the scalar
 * sum of four products, so the same byte. */
__attribute__((target("sse4.1"))) static inline void rgba_lerp_sse41(uint8_t *out,
                                                                     const uint8_t *p0,
                                                                     const uint8_t *p1,
                                                                     uint32_t fx, uint32_t fy) {
    const __m128i pair = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, -1, -1, -1, -1, -1, -1, -1, -1);
    __m128i wx = _mm_set1_epi32((int32_t)((fx << 16) | (256 - fx)));
    __m128i t = _mm_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)p0), pair));
    __m128i b = _mm_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)p1), pair));
    __m128i s = _mm_add_epi32(_mm_mullo_epi32(_mm_madd_epi16(t, wx), _mm_set1_epi32((int32_t)(256 - fy))),
                              _mm_mullo_epi32(_mm_madd_epi16(b, wx), _mm_set1_epi32((int32_t)fy)));
    s = _mm_srli_epi32(_mm_add_epi32(s, _mm_set1_epi32(32768)), 16);
    s = _mm_packus_epi32(s, s);
    int32_t v = _mm_cvtsi128_si32(_mm_packus_epi16(s, s));
    memcpy(out, &v, 4);
}
#endif

/* Resample a premultiplied RGBa image into piece (bw x bh) through an affine map (piece pixel
 * -> image pixel, Pillow's convention). The image comes with a one-pixel transparent border
 * (sw x sh is its inner size), so edges fade out and no neighbour needs a bounds check. */
static void sample_rgba(uint8_t *piece, int bw, int bh, const uint8_t *img, int sw, int sh,
                        affine m) {
    const double one = 65536.0;
    const size_t stride = (size_t)(sw + 2) * 4;
    int64_t dx = llround(m.a * one), dy = llround(m.d * one);
    for (int v = 0; v < bh; v++) {
        uint8_t *out = piece + (size_t)v * bw * 4;
        int64_t x = llround((m.a * 0.5 + m.b * (v + 0.5) + m.c - 0.5) * one);
        int64_t y = llround((m.d * 0.5 + m.e * (v + 0.5) + m.f - 0.5) * one);
        for (int u = 0; u < bw; u++, x += dx, y += dy, out += 4) {
            int x0 = (int)(x >> 16), y0 = (int)(y >> 16);
            if (x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh) {
                out[0] = out[1] = out[2] = out[3] = 0;
                continue;
            }
            const uint8_t *p0 = img + (size_t)(y0 + 1) * stride + (size_t)(x0 + 1) * 4;
            const uint8_t *p1 = p0 + stride;
            if ((p0[3] | p0[7] | p1[3] | p1[7]) == 0) { /* all four neighbours transparent */
                out[0] = out[1] = out[2] = out[3] = 0;
                continue;
            }
            uint32_t fx = ((uint32_t)(x & 0xffff) + 128) >> 8;
            uint32_t fy = ((uint32_t)(y & 0xffff) + 128) >> 8;
#ifdef GATHER_SIMD
            if (have_sse41) {
                rgba_lerp_sse41(out, p0, p1, fx, fy);
                continue;
            }
#endif
            uint32_t w00 = (256 - fx) * (256 - fy), w01 = fx * (256 - fy);
            uint32_t w10 = (256 - fx) * fy, w11 = fx * fy;
            for (int c = 0; c < 4; c++)
                out[c] = (uint8_t)((p0[c] * w00 + p0[c + 4] * w01 + p1[c] * w10 + p1[c + 4] * w11 +
                                    32768) >> 16);
        }
    }
}

/* RGB or straight-alpha RGBA (w x h, even) -> I420 planes in BT.601 limited range: Y at full
 * size, U and V from 2x2 means; with alpha, premultiplied, plus alpha at both sizes.
 * Each row is its own loop with the channel count fixed, so that it vectorises (the float
 * operations are the same and in the same order either way: the same bytes). */
static const float ky[3] = {0.256788f, 0.504129f, 0.097906f};
static const float ku[3] = {-0.148223f, -0.290993f, 0.439216f};
static const float kv[3] = {0.439216f, -0.367788f, -0.071427f};

static inline void luma_row(const uint8_t *restrict row, int w, int ch, uint8_t *restrict Y,
                            uint8_t *restrict A) {
    for (int i = 0; i < w; i++) {
        const uint8_t *q = row + (size_t)i * ch;
        float a = ch == 4 ? q[3] / 255.0f : 1.0f;
        float y = (16.0f + ky[0] * q[0] + ky[1] * q[1] + ky[2] * q[2]) * a + 0.5f;
        Y[i] = (uint8_t)(y > 255.0f ? 255.0f : y);
        if (ch == 4) A[i] = q[3];
    }
}

static inline void chroma_row(const uint8_t *restrict r0, const uint8_t *restrict r1, int w,
                              int ch, uint8_t *restrict U, uint8_t *restrict V,
                              uint8_t *restrict Ac) {
    for (int i = 0; i < w / 2; i++) {
        float r = 0, g = 0, b = 0, sa = 0;
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++) {
                const uint8_t *q = (dy ? r1 : r0) + (size_t)(2 * i + dx) * ch;
                float a = ch == 4 ? q[3] / 255.0f : 1.0f;
                r += q[0] * a; g += q[1] * a; b += q[2] * a; sa += a;
            }
        r *= 0.25f; g *= 0.25f; b *= 0.25f; sa *= 0.25f;
        float u = ku[0] * r + ku[1] * g + ku[2] * b + 128.0f * sa + 0.5f;
        float v = kv[0] * r + kv[1] * g + kv[2] * b + 128.0f * sa + 0.5f;
        U[i] = (uint8_t)(u < 0 ? 0 : u > 255 ? 255 : u);
        V[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        if (ch == 4) Ac[i] = (uint8_t)(sa * 255.0f + 0.5f);
    }
}

WIDE static void to_i420_rows(const uint8_t *src, int w, int h, int ch, uint8_t *Y, uint8_t *U,
                              uint8_t *V, uint8_t *A, uint8_t *Ac) {
    size_t stride = (size_t)w * ch;
    for (int j = 0; j < h; j++) {
        if (ch == 4)
            luma_row(src + j * stride, w, 4, Y + (size_t)j * w, A + (size_t)j * w);
        else
            luma_row(src + j * stride, w, 3, Y + (size_t)j * w, NULL);
    }
    for (int j = 0; j < h / 2; j++) {
        const uint8_t *r0 = src + (size_t)(2 * j) * stride, *r1 = r0 + stride;
        size_t o = (size_t)j * (w / 2);
        if (ch == 4)
            chroma_row(r0, r1, w, 4, U + o, V + o, Ac + o);
        else
            chroma_row(r0, r1, w, 3, U + o, V + o, NULL);
    }
}

static void to_i420(const uint8_t *src, int w, int h, int ch, uint8_t *Y, uint8_t *U, uint8_t *V,
                    uint8_t *A, uint8_t *Ac) {
    to_i420_rows(src, w, h, ch, Y, U, V, A, Ac);
}

/* A procedural plate's layers straight into bytes (shotcraft.draw.procedural.plate), with the
 * same float32 operations in the same order as its numpy code, so the same bytes, and no
 * float temporaries the size of the plate. A float becomes a byte by truncation, as numpy
 * casts; every value here is in 0..255.5. */

/* rows x w RGB pixels: base + toward * weight, a colour a row and a weight a pixel */
WIDE static void mix_rows(uint8_t *restrict out, int w, int rows, const float *restrict weight,
                          const float *restrict toward, const float *restrict base) {
    for (int i = 0; i < rows; i++) {
        const float *wt = weight + (size_t)i * w, *t = toward + 3 * i, *b = base + 3 * i;
        uint8_t *o = out + (size_t)i * w * 3;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float v = t[c] * wt[x];
                v = v + b[c];
                o[3 * x + c] = (uint8_t)v;
            }
    }
}

/* A ridge's rows r0.. as RGBA: shaded by depth below its crest `top` (a row a column), the
 * edge antialiased by the crest's coverage of each pixel row. */
WIDE static void ridge_rows(uint8_t *restrict out, int w, int rows, int r0, const float *restrict top,
                            const float *restrict flat, const float *restrict dim, float k) {
    for (int i = 0; i < rows; i++) {
        const float row = (float)(r0 + i), *f = flat + 3 * i, *d = dim + 3 * i;
        const float n0 = -d[0], n1 = -d[1], n2 = -d[2];
        uint8_t *o = out + (size_t)i * w * 4;
        for (int x = 0; x < w; x++) {
            float below = row - top[x];
            float shade = below * k;
            shade = shade > 0.0f ? shade : 0.0f;
            shade = shade < 1.0f ? shade : 1.0f;
            float v0 = shade * n0, v1 = shade * n1, v2 = shade * n2;
            v0 = v0 + f[0], v1 = v1 + f[1], v2 = v2 + f[2];
            float a = below * 255.0f;
            a = a + 255.5f;
            a = a > 0.5f ? a : 0.5f;
            a = a < 255.5f ? a : 255.5f;
            o[4 * x] = (uint8_t)v0, o[4 * x + 1] = (uint8_t)v1, o[4 * x + 2] = (uint8_t)v2;
            o[4 * x + 3] = (uint8_t)a;
        }
    }
}

/* ---- Python bindings ---- */

/* The GIL is let go around work of at least this many pixels (about 30 microseconds): then
 * the other drawing thread, or the encoder's, runs meanwhile. Around less it is kept: at a
 * preview's size a frame is some twenty calls of a few microseconds each, and letting go of
 * the GIL that often, while a second thread waits for it, hands it back and forth on every
 * call (the animatic of a 10 s shot took 50 % more CPU drawing beside its encoder). */
#define FREE_GIL_PIXELS 32768
#define BEGIN_WORK(pixels) \
    PyThreadState *_work_save = (pixels) >= FREE_GIL_PIXELS ? PyEval_SaveThread() : NULL;
#define END_WORK() \
    if (_work_save != NULL) PyEval_RestoreThread(_work_save);


static int get_plane(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t need,
                     const char *what) {
    if (PyObject_GetBuffer(obj, view, writable ? (PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
                                               : PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len < need) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, need %zd", what, view->len, need);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static int check_rows(int *v0, int *v1, int dh) {
    if (*v0 < 0) *v0 = 0;
    if (*v1 > dh) *v1 = dh;
    return *v1 > *v0;
}

static PyObject *py_sample(PyObject *self, PyObject *args) {
    PyObject *dobj, *sobj;
    int dw, dh, sw, sh, fill, v0, v1;
    affine m;
    if (!PyArg_ParseTuple(args, "OiiOii(dddddd)iii", &dobj, &dw, &dh, &sobj, &sw, &sh, &m.a,
                          &m.b, &m.c, &m.d, &m.e, &m.f, &fill, &v0, &v1))
        return NULL;
    if (dw <= 0 || dh <= 0 || sw <= 0 || sh <= 0) {
        PyErr_SetString(PyExc_ValueError, "sizes must be positive");
        return NULL;
    }
    Py_buffer d, s;
    if (get_plane(dobj, &d, 1, (Py_ssize_t)dw * dh, "destination") < 0) return NULL;
    if (get_plane(sobj, &s, 0, (Py_ssize_t)sw * sh, "source") < 0) {
        PyBuffer_Release(&d);
        return NULL;
    }
    if (check_rows(&v0, &v1, dh)) {
        int rc;
        BEGIN_WORK((Py_ssize_t)dw * (v1 - v0))
        rc = sample_rows(d.buf, dw, dh, v0, v1, s.buf, sw, sh, m, fill);
        END_WORK()
        if (rc < 0) {
            PyBuffer_Release(&d);
            PyBuffer_Release(&s);
            return PyErr_NoMemory();
        }
    }
    PyBuffer_Release(&d);
    PyBuffer_Release(&s);
    Py_RETURN_NONE;
}

static PyObject *py_over(PyObject *self, PyObject *args) {
    PyObject *dobj, *pobj, *aobj;
    int dw, dh, sw, sh, v0, v1;
    affine m;
    if (!PyArg_ParseTuple(args, "OiiOOii(dddddd)ii", &dobj, &dw, &dh, &pobj, &aobj, &sw, &sh,
                          &m.a, &m.b, &m.c, &m.d, &m.e, &m.f, &v0, &v1))
        return NULL;
    if (dw <= 0 || dh <= 0 || sw <= 0 || sh <= 0) {
        PyErr_SetString(PyExc_ValueError, "sizes must be positive");
        return NULL;
    }
    Py_buffer d, p, a;
    if (get_plane(dobj, &d, 1, (Py_ssize_t)dw * dh, "destination") < 0) return NULL;
    if (get_plane(pobj, &p, 0, (Py_ssize_t)sw * sh, "layer") < 0) {
        PyBuffer_Release(&d);
        return NULL;
    }
    if (get_plane(aobj, &a, 0, (Py_ssize_t)sw * sh, "alpha") < 0) {
        PyBuffer_Release(&d);
        PyBuffer_Release(&p);
        return NULL;
    }
    if (check_rows(&v0, &v1, dh)) {
        int rc;
        BEGIN_WORK((Py_ssize_t)dw * (v1 - v0))
        rc = over_rows(d.buf, dw, dh, v0, v1, p.buf, a.buf, sw, sh, m);
        END_WORK()
        if (rc < 0) {
            PyBuffer_Release(&d);
            PyBuffer_Release(&p);
            PyBuffer_Release(&a);
            return PyErr_NoMemory();
        }
    }
    PyBuffer_Release(&d);
    PyBuffer_Release(&p);
    PyBuffer_Release(&a);
    Py_RETURN_NONE;
}

static PyObject *py_blend(PyObject *self, PyObject *args) {
    PyObject *fobj, *pobj;
    int W, H, pw, ph, x0, y0;
    double opacity;
    if (!PyArg_ParseTuple(args, "OiiOiiiid", &fobj, &W, &H, &pobj, &pw, &ph, &x0, &y0, &opacity))
        return NULL;
    if (W <= 0 || H <= 0 || W % 2 || H % 2 || pw < 0 || ph < 0) {
        PyErr_SetString(PyExc_ValueError, "frame size must be positive and even");
        return NULL;
    }
    Py_buffer f, p;
    if (get_plane(fobj, &f, 1, (Py_ssize_t)W * H * 3 / 2, "frame") < 0) return NULL;
    if (get_plane(pobj, &p, 0, (Py_ssize_t)pw * ph * 4, "piece") < 0) {
        PyBuffer_Release(&f);
        return NULL;
    }
    uint8_t *Y = f.buf, *U = Y + (size_t)W * H, *V = U + (size_t)W * H / 4;
    BEGIN_WORK((Py_ssize_t)pw * ph)
    blend_i420(Y, U, V, W, H, p.buf, pw, ph, x0, y0, opacity);
    END_WORK()
    PyBuffer_Release(&f);
    PyBuffer_Release(&p);
    Py_RETURN_NONE;
}

/* blend for many small pieces at once (labels, the glyphs of a timecode): a sequence of
 * (piece, x0, y0), each a premultiplied RGBa array (h, w, 4), blended in order at opacity 1,
 * cut to the frame. One call a frame instead of one a glyph. */
static PyObject *py_blend_all(PyObject *self, PyObject *args) {
    PyObject *fobj, *items;
    int W, H;
    if (!PyArg_ParseTuple(args, "OiiO", &fobj, &W, &H, &items)) return NULL;
    if (W <= 0 || H <= 0 || W % 2 || H % 2) {
        PyErr_SetString(PyExc_ValueError, "frame size must be positive and even");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(items, "blend_all: a sequence of (piece, x, y)");
    if (seq == NULL) return NULL;
    Py_buffer f;
    if (get_plane(fobj, &f, 1, (Py_ssize_t)W * H * 3 / 2, "frame") < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    uint8_t *Y = f.buf, *U = Y + (size_t)W * H, *V = U + (size_t)W * H / 4;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int ok = 1;
    for (Py_ssize_t k = 0; k < n && ok; k++) {
        PyObject *pobj;
        int x0, y0;
        /* a tuple of its own (any 3-sequence will do), held while its piece is read */
        PyObject *item = PySequence_Tuple(PySequence_Fast_GET_ITEM(seq, k));
        if (item == NULL || !PyArg_ParseTuple(item, "Oii", &pobj, &x0, &y0)) {
            Py_XDECREF(item);
            ok = 0;
            break;
        }
        Py_buffer p;
        if (PyObject_GetBuffer(pobj, &p, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
            Py_DECREF(item);
            ok = 0;
            break;
        }
        if (p.ndim != 3 || p.shape[2] != 4 || p.itemsize != 1 || strcmp(p.format, "B") != 0) {
            PyErr_SetString(PyExc_ValueError, "blend_all: pieces are (h, w, 4) uint8 arrays");
            PyBuffer_Release(&p);
            Py_DECREF(item);
            ok = 0;
            break;
        }
        blend_i420(Y, U, V, W, H, p.buf, (int)p.shape[1], (int)p.shape[0], x0, y0, 1.0);
        PyBuffer_Release(&p);
        Py_DECREF(item);
    }
    PyBuffer_Release(&f);
    Py_DECREF(seq);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_sprite(PyObject *self, PyObject *args) {
    PyObject *fobj, *sobj;
    int W, H, sw, sh, x0, y0, x1, y1;
    double opacity;
    affine m;
    if (!PyArg_ParseTuple(args, "OiiOii(dddddd)iiiid", &fobj, &W, &H, &sobj, &sw, &sh, &m.a, &m.b,
                          &m.c, &m.d, &m.e, &m.f, &x0, &y0, &x1, &y1, &opacity))
        return NULL;
    if (W <= 0 || H <= 0 || W % 2 || H % 2 || sw <= 0 || sh <= 0) {
        PyErr_SetString(PyExc_ValueError, "frame size must be positive and even");
        return NULL;
    }
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W) x1 = W;
    if (y1 > H) y1 = H;
    if (x1 <= x0 || y1 <= y0) Py_RETURN_NONE;
    /* grow the box to the chroma grid (the frame size is even): whole 2x2 blocks */
    int ax0 = x0 & ~1, ay0 = y0 & ~1, ax1 = (x1 + 1) & ~1, ay1 = (y1 + 1) & ~1;
    m.c += m.a * (ax0 - x0) + m.b * (ay0 - y0);
    m.f += m.d * (ax0 - x0) + m.e * (ay0 - y0);
    x0 = ax0; y0 = ay0; x1 = ax1; y1 = ay1;
    Py_buffer f, s;
    if (get_plane(fobj, &f, 1, (Py_ssize_t)W * H * 3 / 2, "frame") < 0) return NULL;
    if (get_plane(sobj, &s, 0, (Py_ssize_t)(sw + 2) * (sh + 2) * 4, "sprite") < 0) {
        PyBuffer_Release(&f);
        return NULL;
    }
    int bw = x1 - x0, bh = y1 - y0;
    uint8_t *piece = malloc((size_t)bw * bh * 4);
    if (piece != NULL) {
        uint8_t *Y = f.buf, *U = Y + (size_t)W * H, *V = U + (size_t)W * H / 4;
        BEGIN_WORK((Py_ssize_t)bw * bh * 2) /* two passes: the resample and the blend */
        sample_rgba(piece, bw, bh, s.buf, sw, sh, m);
        blend_i420(Y, U, V, W, H, piece, bw, bh, x0, y0, opacity);
        END_WORK()
        free(piece);
    }
    PyBuffer_Release(&f);
    PyBuffer_Release(&s);
    if (piece == NULL) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *py_to_i420(PyObject *self, PyObject *args) {
    PyObject *sobj, *objs[5];
    int w, h, ch;
    if (!PyArg_ParseTuple(args, "OiiiOOOOO", &sobj, &w, &h, &ch, &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4]))
        return NULL;
    if (w <= 0 || h <= 0 || w % 2 || h % 2 || (ch != 3 && ch != 4)) {
        PyErr_SetString(PyExc_ValueError, "need an even size and 3 or 4 channels");
        return NULL;
    }
    Py_ssize_t need[5] = {(Py_ssize_t)w * h, (Py_ssize_t)w * h / 4, (Py_ssize_t)w * h / 4,
                          (Py_ssize_t)w * h, (Py_ssize_t)w * h / 4};
    Py_buffer s, views[5];
    int n = 0, have_s = get_plane(sobj, &s, 0, (Py_ssize_t)w * h * ch, "source") == 0;
    int ok = have_s;
    for (; ok && n < 5; n++) {
        if (objs[n] == Py_None) {
            if (n < 3 || ch == 4) { PyErr_SetString(PyExc_ValueError, "missing plane"); ok = 0; break; }
            views[n].buf = NULL;
            continue;
        }
        if (get_plane(objs[n], &views[n], 1, need[n], "plane") < 0) { ok = 0; break; }
    }
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        to_i420(s.buf, w, h, ch, views[0].buf, views[1].buf, views[2].buf, views[3].buf,
                views[4].buf);
        Py_END_ALLOW_THREADS
    }
    for (int k = 0; k < n; k++)
        if (objs[k] != Py_None) PyBuffer_Release(&views[k]);
    if (have_s) PyBuffer_Release(&s);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static void release_planes(int n, Py_buffer *views) {
    while (n-- > 0) PyBuffer_Release(&views[n]);
}

/* The n planes a binding works on, the first one written: all of them acquired, or none
 * (those already held are released again) and the exception set. */
static int get_planes(int n, PyObject *const *objs, Py_buffer *views, const Py_ssize_t *need,
                      const char *const *what) {
    for (int k = 0; k < n; k++)
        if (get_plane(objs[k], &views[k], k == 0, need[k], what[k]) < 0) {
            release_planes(k, views);
            return -1;
        }
    return 0;
}

static PyObject *py_mix(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    int w, rows;
    if (!PyArg_ParseTuple(args, "OiiOOO", &objs[0], &w, &rows, &objs[1], &objs[2], &objs[3]))
        return NULL;
    if (w <= 0 || rows < 0) {
        PyErr_SetString(PyExc_ValueError, "sizes must be positive");
        return NULL;
    }
    static const char *const what[4] = {"out", "weight", "toward", "base"};
    const Py_ssize_t need[4] = {(Py_ssize_t)w * rows * 3, (Py_ssize_t)w * rows * 4,
                                (Py_ssize_t)rows * 12, (Py_ssize_t)rows * 12};
    Py_buffer v[4];
    if (get_planes(4, objs, v, need, what) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    mix_rows(v[0].buf, w, rows, v[1].buf, v[2].buf, v[3].buf);
    Py_END_ALLOW_THREADS
    release_planes(4, v);
    Py_RETURN_NONE;
}

static PyObject *py_ridge(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    int w, rows, r0;
    float k;
    if (!PyArg_ParseTuple(args, "OiiiOOOf", &objs[0], &w, &rows, &r0, &objs[1], &objs[2],
                          &objs[3], &k))
        return NULL;
    if (w <= 0 || rows < 0) {
        PyErr_SetString(PyExc_ValueError, "sizes must be positive");
        return NULL;
    }
    static const char *const what[4] = {"out", "top", "flat", "dim"};
    const Py_ssize_t need[4] = {(Py_ssize_t)w * rows * 4, (Py_ssize_t)w * 4,
                                (Py_ssize_t)rows * 12, (Py_ssize_t)rows * 12};
    Py_buffer v[4];
    if (get_planes(4, objs, v, need, what) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    ridge_rows(v[0].buf, w, rows, r0, v[1].buf, v[2].buf, v[3].buf, k);
    Py_END_ALLOW_THREADS
    release_planes(4, v);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"sample", py_sample, METH_VARARGS,
     "sample(dst, dw, dh, src, sw, sh, (a, b, c, d, e, f), fill, v0, v1): bilinear resample "
     "rows v0..v1 of dst from src through an affine map; outside src reads fill."},
    {"over", py_over, METH_VARARGS,
     "over(dst, dw, dh, layer, alpha, sw, sh, (a, b, c, d, e, f), v0, v1): resample a "
     "premultiplied layer and its alpha, and lay it over rows v0..v1 of dst."},
    {"blend", py_blend, METH_VARARGS,
     "blend(i420, W, H, rgba, pw, ph, x0, y0, opacity): blend a premultiplied RGBa piece into "
     "an I420 frame (BT.601 limited range)."},
    {"blend_all", py_blend_all, METH_VARARGS,
     "blend_all(i420, W, H, [(rgba, x0, y0), ...]): blend premultiplied RGBa pieces (h, w, 4) "
     "into an I420 frame in order, each cut to the frame."},
    {"sprite", py_sprite, METH_VARARGS,
     "sprite(i420, W, H, rgba, sw, sh, (a, b, c, d, e, f), x0, y0, x1, y1, opacity): resample "
     "a premultiplied RGBa image of sw x sh inside a 1-pixel transparent border into the box "
     "(x0, y0)-(x1, y1) of an I420 frame (the map takes box pixels to image pixels) and blend "
     "it there."},
    {"to_i420", py_to_i420, METH_VARARGS,
     "to_i420(src, w, h, channels, Y, U, V, A, Ac): RGB or RGBA pixels to I420 planes "
     "(premultiplied, with alpha at full and half size, for RGBA; A and Ac None for RGB)."},
    {"mix", py_mix, METH_VARARGS,
     "mix(out, w, rows, weight, toward, base): rows x w RGB bytes = base + toward * weight "
     "(float32: weight a pixel, toward and base a colour a row), truncated."},
    {"ridge", py_ridge, METH_VARARGS,
     "ridge(out, w, rows, r0, top, flat, dim, k): a procedural ridge's RGBA rows r0.. "
     "(float32 inputs, as shotcraft.draw.procedural computes them)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "Native compositing kernels (optional).", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) {
#ifdef GATHER_SIMD
    __builtin_cpu_init();
    have_ssse3 = __builtin_cpu_supports("ssse3");
    have_sse41 = __builtin_cpu_supports("sse4.1");
    have_avx2 = __builtin_cpu_supports("avx2");
    /* the plain C loops only, whatever the CPU offers: how the tests check that every path
     * draws the same bytes (the target_clones loops are the compiler's, of the same C) */
    const char *plain = getenv("SHOTCRAFT_KERNELS_PLAIN");
    if (plain != NULL && plain[0] == '1') have_ssse3 = have_sse41 = have_avx2 = 0;
#endif
    return PyModule_Create(&module);
}
