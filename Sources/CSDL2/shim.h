// SDL2 for Swift. SDL's headers come from libsdl2-dev (pkg-config sdl2). Function-like macros
// are not imported by Swift, so the few the demo needs are wrapped here as static inline
// functions with the same meaning.
#ifndef MESHSTEP_CSDL2_SHIM_H
#define MESHSTEP_CSDL2_SHIM_H

#include <SDL.h>

/// SDL_WINDOWPOS_CENTERED: let the window manager centre the window.
static inline int shim_SDL_WINDOWPOS_CENTERED(void) { return (int)SDL_WINDOWPOS_CENTERED; }

/// SDL_LoadBMP(file): reads a .bmp file into a new surface, or NULL (see SDL_GetError).
static inline SDL_Surface *shim_SDL_LoadBMP(const char *file) { return SDL_LoadBMP(file); }

/// SDL_SaveBMP(surface, file): writes a surface as .bmp; 0 on success.
static inline int shim_SDL_SaveBMP(SDL_Surface *surface, const char *file) { return SDL_SaveBMP(surface, file); }

/// SDL_LoadWAV(file, spec, buffer, length): reads a .wav file; free the buffer with SDL_FreeWAV.
static inline SDL_AudioSpec *shim_SDL_LoadWAV(const char *file, SDL_AudioSpec *spec, Uint8 **buffer, Uint32 *length) {
    return SDL_LoadWAV(file, spec, buffer, length);
}

/// AUDIO_S16SYS: signed 16-bit samples in the host's byte order.
static inline SDL_AudioFormat shim_AUDIO_S16SYS(void) { return AUDIO_S16SYS; }

/// SDL_INIT_VIDEO | SDL_INIT_AUDIO etc. as an unsigned value (the macros import as Int32).
static inline Uint32 shim_SDL_INIT_VIDEO(void) { return SDL_INIT_VIDEO; }
static inline Uint32 shim_SDL_INIT_AUDIO(void) { return SDL_INIT_AUDIO; }

/// SDL_BYTESPERPIXEL(format).
static inline int shim_SDL_BYTESPERPIXEL(Uint32 format) { return SDL_BYTESPERPIXEL(format); }

#endif
