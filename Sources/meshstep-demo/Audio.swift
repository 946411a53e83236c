import CSDL2
import Foundation

/// A tiny software mixer: sounds start with `play`, and every frame `pump` mixes the voices
/// that are playing and queues a few milliseconds of audio with `SDL_QueueAudio`.
/// If no audio device opens, the demo stays silent (one warning line).
final class Mixer {
    private var device: SDL_AudioDeviceID = 0
    private struct Voice { var sound: Sound; var position: Int; var volume: Int }
    private var voices: [Voice] = []
    /// Audio kept queued ahead of the device, in samples (~70 ms).
    private let lead = 1536

    init() {
        guard SDL_InitSubSystem(shim_SDL_INIT_AUDIO()) == 0 else {
            printWarning("no audio (\(sdlError())); continuing silently")
            return
        }
        var want = SDL_AudioSpec()
        want.freq = Sound.rate
        want.format = shim_AUDIO_S16SYS()
        want.channels = 1
        want.samples = 512
        var have = SDL_AudioSpec()
        device = SDL_OpenAudioDevice(nil, 0, &want, &have, 0)
        guard device != 0 else {
            printWarning("cannot open an audio device (\(sdlError())); continuing silently")
            return
        }
        SDL_PauseAudioDevice(device, 0)
    }

    var isOpen: Bool { device != 0 }

    /// Starts a sound at `volume` percent. At most 12 voices play at once (the oldest go).
    func play(_ sound: Sound, volume: Int = 100) {
        guard isOpen else { return }
        if voices.count >= 12 { voices.removeFirst() }
        voices.append(Voice(sound: sound, position: 0, volume: volume))
    }

    /// Tops the device queue up with mixed audio; call once per frame.
    func pump() {
        guard isOpen else { return }
        let queued = Int(SDL_GetQueuedAudioSize(device)) / 2
        let count = lead - queued
        guard count > 0 else { return }
        var mix = [Int32](repeating: 0, count: count)
        for v in voices.indices {
            let s = voices[v].sound.samples
            let n = min(count, s.count - voices[v].position)
            guard n > 0 else { continue }
            for i in 0..<n { mix[i] += Int32(s[voices[v].position + i]) * Int32(voices[v].volume) / 100 }
            voices[v].position += n
        }
        voices.removeAll { $0.position >= $0.sound.samples.count }
        var out = mix.map { Int16(clamping: $0) }
        _ = out.withUnsafeMutableBytes { SDL_QueueAudio(device, $0.baseAddress, UInt32($0.count)) }
    }

    func close() {
        guard isOpen else { return }
        SDL_CloseAudioDevice(device)
        device = 0
    }
}

func printWarning(_ text: String) {
    var stderr = StandardError()
    print("warning: \(text)", to: &stderr)
}

/// `print(..., to: &stderr)`.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
