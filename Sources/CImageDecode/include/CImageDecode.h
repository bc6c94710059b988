// JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB, EXIF orientation, and the two resize
// filters Keras' load_img uses through PIL (NEAREST, BILINEAR). C because both libraries report
// errors by longjmp out of a callback, which Swift code cannot be on the stack of.
#ifndef CIMAGEDECODE_H
#define CIMAGEDECODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *pixels;      // width * height * 3 bytes, RGB, rows top to bottom; free with cimg_free
    int width, height;    // after the EXIF rotation
    int orientation;      // EXIF orientation found and applied (1 = none or no EXIF)
    int source_channels;  // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (PNG) / CMYK (JPEG)
    int source_bit_depth; // 8 or 16 (PNG palette and 1/2/4-bit gray: their depth)
    int format;           // CIMG_JPEG or CIMG_PNG
} cimg_image;

enum { CIMG_UNKNOWN = 0, CIMG_JPEG = 1, CIMG_PNG = 2 };

// The format the first bytes announce (CIMG_UNKNOWN for anything else).
int cimg_sniff(const uint8_t *data, size_t size);

// Decodes a whole JPEG or PNG file held in memory into 8-bit RGB: grayscale is replicated, alpha is
// dropped (as PIL's convert("RGB")), 16-bit samples keep their high byte (as PIL), palettes are
// expanded, and the EXIF orientation (JPEG APP1, PNG eXIf) is applied. Returns 0, or -1 with a
// one-line message in `error` (truncated data, corrupt data, unsupported kind, too large).
int cimg_decode(const uint8_t *data, size_t size, cimg_image *out, char *error, size_t error_size);

void cimg_free(cimg_image *image);

// The EXIF orientation (1...8) in a TIFF-structured EXIF block starting at "Exif\0\0" or at the
// TIFF header; 1 when absent or malformed.
int cimg_exif_orientation(const uint8_t *data, size_t size);

// Applies EXIF orientation 1...8 to an RGB image; writes the result (dimensions swapped for 5...8)
// into `out`, which must hold width*height*3 bytes.
void cimg_orient(const uint8_t *in, int width, int height, int orientation, uint8_t *out);

// PIL's Image.resize(NEAREST) of an RGB image: source x = floor(x0 + 0.5*s + x*s) with s =
// in/out accumulated in double exactly as PIL's affine scaling does.
void cimg_resize_nearest(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w, int out_h);

// PIL's Image.resize(BILINEAR): a separable triangle filter widened by the scale when shrinking
// (antialiased), 22-bit fixed-point coefficients, horizontal pass first into an 8-bit buffer.
// Returns 0, or -1 when memory runs out.
int cimg_resize_bilinear(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w, int out_h);

// Writes an 8-bit RGB image as PNG, or as baseline JPEG of `quality` (1...100), to `path` (for
// tests and tools that make image folders). Returns 0, or -1 with a one-line message.
int cimg_write_png(const char *path, const uint8_t *rgb, int width, int height, char *error, size_t error_size);
/* The same PNG in memory: *out (free() it) holds *out_size bytes. */
int cimg_encode_png(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_size, char *error, size_t error_size);
int cimg_write_jpeg(const char *path, const uint8_t *rgb, int width, int height, int quality, char *error, size_t error_size);

#endif
