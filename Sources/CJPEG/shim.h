// libjpeg-turbo's libjpeg API (Debian: libjpeg62-turbo-dev). jpeglib.h needs FILE and size_t first.
#include <stdio.h>
#include <jpeglib.h>
