// See CImageDecode.h. libjpeg and libpng report fatal errors through a callback that must not
// return; both callbacks here longjmp back into the decode function that set the jump buffer, so
// no Swift frame is ever between setjmp and longjmp.
#include "CImageDecode.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

// Larger images are refused rather than decoded (100 megapixels is 300 MB of RGB).
#define CIMG_MAX_PIXELS ((size_t)100 * 1000 * 1000)

int cimg_sniff(const uint8_t *data, size_t size) {
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return CIMG_JPEG;
    if (size >= 8 && memcmp(data, png_signature, 8) == 0) return CIMG_PNG;
    return CIMG_UNKNOWN;
}

void cimg_free(cimg_image *image) {
    if (image && image->pixels) {
        free(image->pixels);
        image->pixels = NULL;
    }
}

// ---------------------------------------------------------------------------------------------
// EXIF orientation

static unsigned read16(const uint8_t *p, int little) {
    return little ? (unsigned)(p[0] | (p[1] << 8)) : (unsigned)((p[0] << 8) | p[1]);
}

static uint32_t read32(const uint8_t *p, int little) {
    return little ? ((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24))
                  : (((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
}

int cimg_exif_orientation(const uint8_t *data, size_t size) {
    if (size >= 6 && memcmp(data, "Exif\0\0", 6) == 0) {
        data += 6;
        size -= 6;
    }
    if (size < 8) return 1;
    int little;
    if (data[0] == 'I' && data[1] == 'I') little = 1;
    else if (data[0] == 'M' && data[1] == 'M') little = 0;
    else return 1;
    if (read16(data + 2, little) != 42) return 1;
    uint32_t ifd = read32(data + 4, little);
    if (ifd > size - 2 || ifd < 8) return 1;
    unsigned entries = read16(data + ifd, little);
    for (unsigned i = 0; i < entries; i++) {
        size_t at = (size_t)ifd + 2 + (size_t)i * 12;
        if (at + 12 > size) return 1;
        if (read16(data + at, little) != 0x0112) continue;
        unsigned type = read16(data + at + 2, little);
        unsigned value;
        if (type == 3) value = read16(data + at + 8, little);           // SHORT, as the standard says
        else if (type == 4) value = read32(data + at + 8, little);      // LONG, seen in the wild
        else return 1;
        return (value >= 1 && value <= 8) ? (int)value : 1;
    }
    return 1;
}

void cimg_orient(const uint8_t *in, int w, int h, int orientation, uint8_t *out) {
    int transposed = orientation >= 5 && orientation <= 8;
    int ow = transposed ? h : w, oh = transposed ? w : h;
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;                  // mirrored left-right
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;          // rotated 180°
            case 4: sx = x; sy = h - 1 - y; break;                  // mirrored top-bottom
            case 5: sx = y; sy = x; break;                          // transposed
            case 6: sx = y; sy = h - 1 - x; break;                  // shown rotated 90° clockwise
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;          // transversed
            case 8: sx = w - 1 - y; sy = x; break;                  // shown rotated 90° counter-clockwise
            default: sx = x; sy = y; break;
            }
            const uint8_t *s = in + ((size_t)sy * w + sx) * 3;
            uint8_t *d = out + ((size_t)y * ow + x) * 3;
            d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
        }
    }
}

static int finish_orientation(cimg_image *out, uint8_t *rgb, int w, int h, int orientation, char *error, size_t error_size) {
    if (orientation != 1) {
        uint8_t *turned = malloc((size_t)w * h * 3);
        if (!turned) {
            free(rgb);
            snprintf(error, error_size, "out of memory applying the EXIF orientation to a %dx%d image", w, h);
            return -1;
        }
        cimg_orient(rgb, w, h, orientation, turned);
        free(rgb);
        rgb = turned;
        if (orientation >= 5) { int t = w; w = h; h = t; }
    }
    out->pixels = rgb;
    out->width = w;
    out->height = h;
    out->orientation = orientation;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// JPEG

struct jpeg_failure {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int hit_eof;
};

static void jpeg_on_error(j_common_ptr cinfo) {
    struct jpeg_failure *f = (struct jpeg_failure *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, f->message);
    longjmp(f->jump, 1);
}

// Warnings are silent; running out of data is remembered: libjpeg would otherwise pad the
// picture with gray and call it a success, where PIL reports a truncated file.
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        struct jpeg_failure *f = (struct jpeg_failure *)cinfo->err;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) f->hit_eof = 1;
        cinfo->err->num_warnings++;
    }
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

static int decode_jpeg(const uint8_t *data, size_t size, cimg_image *out, char *error, size_t error_size) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_failure failure;
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile cmyk_row = NULL;
    memset(&failure, 0, sizeof failure);
    cinfo.err = jpeg_std_error(&failure.pub);
    failure.pub.error_exit = jpeg_on_error;
    failure.pub.emit_message = jpeg_on_message;
    failure.pub.output_message = jpeg_silent;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(cmyk_row);
        if (failure.hit_eof) snprintf(error, error_size, "truncated JPEG: the data ends after %zu bytes, before the image is complete", size);
        else snprintf(error, error_size, "corrupt JPEG data (libjpeg: %s)", failure.message);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);

    int orientation = 1;
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            orientation = cimg_exif_orientation(m->data, m->data_length);
            break;
        }
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    out->source_channels = cinfo.num_components;
    out->source_bit_depth = 8;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);

    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    if ((size_t)w * (size_t)h > CIMG_MAX_PIXELS) {
        jpeg_destroy_decompress(&cinfo);
        snprintf(error, error_size, "%dx%d JPEG is larger than the 100-megapixel limit", w, h);
        return -1;
    }
    rgb = malloc((size_t)w * h * 3);
    if (cmyk) cmyk_row = malloc((size_t)w * 4);
    if (!rgb || (cmyk && !cmyk_row)) {
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(cmyk_row);
        snprintf(error, error_size, "out of memory for a %dx%d JPEG", w, h);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *target = rgb + (size_t)cinfo.output_scanline * w * 3;
        JSAMPROW row = cmyk ? cmyk_row : target;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
        if (cmyk) {
            // Adobe CMYK JPEGs store inverted ink (255 = none); PIL's CMYK→RGB is
            // R = (255-C)(255-K)/255 on the un-inverted values.
            for (int x = 0; x < w; x++) {
                const uint8_t *p = cmyk_row + (size_t)x * 4;
                unsigned k = p[3];
                for (int c = 0; c < 3; c++) target[(size_t)x * 3 + c] = (uint8_t)((p[c] * k + 127) / 255);
            }
        }
    }
    if (failure.hit_eof || cinfo.output_scanline < cinfo.output_height) {
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(cmyk_row);
        snprintf(error, error_size, "truncated JPEG: the data ends after %zu bytes, before the image is complete", size);
        return -1;
    }
    jpeg_destroy_decompress(&cinfo);
    free(cmyk_row);
    out->format = CIMG_JPEG;
    return finish_orientation(out, rgb, w, h, orientation, error, error_size);
}

// ---------------------------------------------------------------------------------------------
// PNG

struct png_failure {
    jmp_buf jump;
    char message[256];
    const uint8_t *data;
    size_t size, position;
    int hit_eof;
};

static void png_on_error(png_structp png, png_const_charp message) {
    struct png_failure *f = (struct png_failure *)png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", message);
    longjmp(f->jump, 1);
}

static void png_on_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void png_read_memory(png_structp png, png_bytep target, size_t count) {
    struct png_failure *f = (struct png_failure *)png_get_io_ptr(png);
    if (f->size - f->position < count) {
        f->hit_eof = 1;
        png_error(png, "read past the end of the data");
    }
    memcpy(target, f->data + f->position, count);
    f->position += count;
}

static int decode_png(const uint8_t *data, size_t size, cimg_image *out, char *error, size_t error_size) {
    struct png_failure failure;
    memset(&failure, 0, sizeof failure);
    failure.data = data;
    failure.size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, png_on_error, png_on_warning);
    if (!png) {
        snprintf(error, error_size, "out of memory starting libpng");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(error, error_size, "out of memory starting libpng");
        return -1;
    }
    uint8_t *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(failure.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rgb);
        free(rows);
        if (failure.hit_eof) snprintf(error, error_size, "truncated PNG: the data ends after %zu bytes, before the image is complete", size);
        else snprintf(error, error_size, "corrupt PNG data (libpng: %s)", failure.message);
        return -1;
    }
    png_set_read_fn(png, &failure, png_read_memory);
    png_read_info(png, info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &color, NULL, NULL, NULL);
    if ((size_t)w * (size_t)h > CIMG_MAX_PIXELS) {
        png_destroy_read_struct(&png, &info, NULL);
        snprintf(error, error_size, "%ux%u PNG is larger than the 100-megapixel limit", (unsigned)w, (unsigned)h);
        return -1;
    }
    int orientation = 1;
    png_uint_32 exif_size = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, info, &exif_size, &exif) && exif) orientation = cimg_exif_orientation(exif, exif_size);

    out->source_channels = png_get_channels(png, info);
    out->source_bit_depth = depth;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);                   // the high byte, as PIL reads 16-bit RGB
    // Alpha (and a palette's or gray's tRNS, which the expansion turns into alpha) is dropped, as
    // PIL's convert("RGB") drops it.
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    if (!(color & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) {
        png_destroy_read_struct(&png, &info, NULL);
        snprintf(error, error_size, "unsupported PNG layout (color type %d, bit depth %d)", color, depth);
        return -1;
    }
    rgb = malloc((size_t)w * h * 3);
    rows = malloc(sizeof(png_bytep) * (h ? h : 1));
    if (!rgb || !rows) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rgb);
        free(rows);
        snprintf(error, error_size, "out of memory for a %ux%u PNG", (unsigned)w, (unsigned)h);
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = rgb + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, info);
    if (orientation == 1 && png_get_eXIf_1(png, info, &exif_size, &exif) && exif) {
        orientation = cimg_exif_orientation(exif, exif_size);   // an eXIf chunk after the image data
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->format = CIMG_PNG;
    return finish_orientation(out, rgb, (int)w, (int)h, orientation, error, error_size);
}

int cimg_decode(const uint8_t *data, size_t size, cimg_image *out, char *error, size_t error_size) {
    memset(out, 0, sizeof *out);
    if (error_size) error[0] = 0;
    switch (cimg_sniff(data, size)) {
    case CIMG_JPEG: return decode_jpeg(data, size, out, error, error_size);
    case CIMG_PNG: return decode_png(data, size, out, error, error_size);
    default:
        snprintf(error, error_size, "not a JPEG or PNG file");
        return -1;
    }
}

// ---------------------------------------------------------------------------------------------
// Resizing, as PIL does it

void cimg_resize_nearest(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w, int out_h) {
    // PIL (ImagingScaleAffine): start at half a step and add the step in double, truncating.
    int *xs = malloc(sizeof(int) * (size_t)(out_w > 0 ? out_w : 1));
    if (!xs) return;
    double step = (double)in_w / out_w, position = step * 0.5;
    for (int x = 0; x < out_w; x++) {
        int sx = position < 0 ? 0 : (int)position;
        xs[x] = sx >= in_w ? in_w - 1 : sx;
        position += step;
    }
    double ystep = (double)in_h / out_h, yposition = ystep * 0.5;
    for (int y = 0; y < out_h; y++) {
        int sy = yposition < 0 ? 0 : (int)yposition;
        if (sy >= in_h) sy = in_h - 1;
        yposition += ystep;
        const uint8_t *row = in + (size_t)sy * in_w * 3;
        uint8_t *target = out + (size_t)y * out_w * 3;
        for (int x = 0; x < out_w; x++) {
            const uint8_t *s = row + (size_t)xs[x] * 3;
            target[x * 3] = s[0]; target[x * 3 + 1] = s[1]; target[x * 3 + 2] = s[2];
        }
    }
    free(xs);
}

#define PRECISION_BITS (32 - 8 - 2)

// PIL's precompute_coeffs for the bilinear (triangle, support 1) filter, then its 8-bit
// fixed-point normalisation. Returns ksize, or 0 when memory runs out.
static int bilinear_coefficients(int in_size, int out_size, int **bounds_out, int **kk_out) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc(sizeof(double) * (size_t)out_size * ksize);
    int *kk = malloc(sizeof(int) * (size_t)out_size * ksize);
    int *bounds = malloc(sizeof(int) * (size_t)out_size * 2);
    if (!k || !kk || !bounds) { free(k); free(kk); free(bounds); return 0; }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *row = k + (size_t)xx * ksize;
        int x = 0;
        for (; x < xmax; x++) {
            double t = fabs((x + xmin - center + 0.5) * ss);
            double w = t < 1.0 ? 1.0 - t : 0.0;
            row[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++) if (ww != 0.0) row[x] /= ww;
        for (; x < ksize; x++) row[x] = 0;
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++) {
        kk[i] = k[i] < 0 ? (int)(-0.5 + k[i] * (1 << PRECISION_BITS)) : (int)(0.5 + k[i] * (1 << PRECISION_BITS));
    }
    free(k);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static inline uint8_t clip8(int v) {
    int shifted = v >> PRECISION_BITS;
    return shifted < 0 ? 0 : shifted > 255 ? 255 : (uint8_t)shifted;
}

int cimg_resize_bilinear(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w, int out_h) {
    int *hb = NULL, *hk = NULL, *vb = NULL, *vk = NULL;
    int hks = bilinear_coefficients(in_w, out_w, &hb, &hk);
    int vks = bilinear_coefficients(in_h, out_h, &vb, &vk);
    if (!hks || !vks) { free(hb); free(hk); free(vb); free(vk); return -1; }
    int need_horizontal = out_w != in_w, need_vertical = out_h != in_h;
    int first = vb[0], last = vb[(out_h - 1) * 2] + vb[(out_h - 1) * 2 + 1];
    const uint8_t *source = in;
    int source_w = in_w;
    uint8_t *temp = NULL;
    if (need_horizontal) {
        // Only the rows the vertical pass reads, as PIL does.
        int rows = last - first;
        for (int i = 0; i < out_h; i++) vb[i * 2] -= first;
        temp = malloc((size_t)out_w * (rows > 0 ? rows : 1) * 3);
        if (!temp) { free(hb); free(hk); free(vb); free(vk); return -1; }
        for (int y = 0; y < rows; y++) {
            const uint8_t *row = in + (size_t)(y + first) * in_w * 3;
            uint8_t *target = temp + (size_t)y * out_w * 3;
            for (int xx = 0; xx < out_w; xx++) {
                int xmin = hb[xx * 2], xmax = hb[xx * 2 + 1];
                const int *k = hk + (size_t)xx * hks;
                for (int c = 0; c < 3; c++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++) ss += row[(x + xmin) * 3 + c] * k[x];
                    target[xx * 3 + c] = clip8(ss);
                }
            }
        }
        source = temp;
        source_w = out_w;
    }
    if (need_vertical) {
        for (int yy = 0; yy < out_h; yy++) {
            int ymin = vb[yy * 2], ymax = vb[yy * 2 + 1];
            const int *k = vk + (size_t)yy * vks;
            uint8_t *target = out + (size_t)yy * out_w * 3;
            for (int x = 0; x < out_w * 3; x++) {
                int ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < ymax; y++) ss += source[(size_t)(y + ymin) * source_w * 3 + x] * k[y];
                target[x] = clip8(ss);
            }
        }
    } else {
        // Horizontal only (or neither): the rows are already the output's.
        memcpy(out, source, (size_t)out_w * out_h * 3);
    }
    free(temp);
    free(hb); free(hk); free(vb); free(vk);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Writing (tests and tools)

/* Writes rgb as an 8-bit RGB PNG to an open stream; returns 0, or -1 with the reason in error. */
static int write_png_stream(FILE *file, const uint8_t *rgb, int width, int height, char *error, size_t error_size) {
    struct png_failure failure;
    memset(&failure, 0, sizeof failure);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(error, error_size, "out of memory starting libpng");
        return -1;
    }
    if (setjmp(failure.jump)) {
        png_destroy_write_struct(&png, &info);
        snprintf(error, error_size, "libpng: %s", failure.message);
        return -1;
    }
    png_init_io(png, file);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int cimg_write_png(const char *path, const uint8_t *rgb, int width, int height, char *error, size_t error_size) {
    FILE *file = fopen(path, "wb");
    if (!file) {
        snprintf(error, error_size, "cannot create the file");
        return -1;
    }
    if (write_png_stream(file, rgb, width, height, error, error_size) != 0) {
        fclose(file);
        return -1;
    }
    if (fclose(file) != 0) {
        snprintf(error, error_size, "cannot finish writing the file");
        return -1;
    }
    return 0;
}

int cimg_encode_png(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_size, char *error, size_t error_size) {
    char *buffer = NULL;
    size_t size = 0;
    FILE *file = open_memstream(&buffer, &size);
    if (!file) {
        snprintf(error, error_size, "cannot open a memory stream");
        return -1;
    }
    int rc = write_png_stream(file, rgb, width, height, error, error_size);
    if (fclose(file) != 0 && rc == 0) {
        snprintf(error, error_size, "cannot finish the PNG in memory");
        rc = -1;
    }
    if (rc != 0) {
        free(buffer);
        return -1;
    }
    *out = (uint8_t *)buffer;
    *out_size = size;
    return 0;
}

int cimg_write_jpeg(const char *path, const uint8_t *rgb, int width, int height, int quality, char *error, size_t error_size) {
    FILE *file = fopen(path, "wb");
    if (!file) {
        snprintf(error, error_size, "cannot create the file");
        return -1;
    }
    struct jpeg_compress_struct cinfo;
    struct jpeg_failure failure;
    memset(&failure, 0, sizeof failure);
    cinfo.err = jpeg_std_error(&failure.pub);
    failure.pub.error_exit = jpeg_on_error;
    failure.pub.output_message = jpeg_silent;
    if (setjmp(failure.jump)) {
        jpeg_destroy_compress(&cinfo);
        fclose(file);
        snprintf(error, error_size, "libjpeg: %s", failure.message);
        return -1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, file);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    if (fclose(file) != 0) {
        snprintf(error, error_size, "cannot finish writing the file");
        return -1;
    }
    return 0;
}
