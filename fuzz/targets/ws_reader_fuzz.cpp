// WebSocket framing (RFC 6455): ws::Reader::feed in the server role (masked frames from
// clients) and the client role, the stream fed whole and again in arbitrary chunks.
//
// Input: byte 0 picks the role (bit 0), max_message (bits 1-2) and after how many events the
// sink stops (bits 3-7, 0 = never); byte 1 seeds the chunk sizes; the rest is the byte stream.
//
// Checks: chunking changes nothing (same events, same error, same place); text is valid
// UTF-8, messages fit max_message, control payloads fit 125 bytes, close codes are valid; the
// bytes a reader holds between calls stay within max_message plus one header and one control
// frame; every message and close re-encoded by the peer's writer reads back the same.

#include "fuzz_check.hpp"

#include "roomcast/protocol/utf8.hpp"
#include "roomcast/protocol/websocket.hpp"

#include <optional>
#include <string>
#include <vector>

namespace ws = roomcast::protocol::ws;
namespace protocol = roomcast::protocol;
using roomcast::fuzz::Chunker;
using roomcast::fuzz::Input;

namespace {

constexpr std::size_t kMaxMessages[] = {16, 125, 1000, 70000};

enum class Kind { kMessage, kPing, kPong, kClose };

struct Event {
    Kind kind;
    ws::Opcode opcode = ws::Opcode::kText;
    std::uint16_t code = 0;
    std::string payload;
    friend bool operator==(const Event&, const Event&) = default;
};

class Recorder final : public ws::ReaderSink {
public:
    explicit Recorder(std::size_t stop_after) : stop_after_(stop_after) {}
    bool on_message(ws::Opcode opcode, std::string_view payload) override {
        return add({Kind::kMessage, opcode, 0, std::string(payload)});
    }
    bool on_ping(std::string_view payload) override {
        return add({Kind::kPing, ws::Opcode::kPing, 0, std::string(payload)});
    }
    bool on_pong(std::string_view payload) override {
        return add({Kind::kPong, ws::Opcode::kPong, 0, std::string(payload)});
    }
    bool on_close(std::uint16_t code, std::string_view reason) override {
        return add({Kind::kClose, ws::Opcode::kClose, code, std::string(reason)});
    }
    std::vector<Event> events;
    bool stopped = false;

private:
    bool add(Event e) {
        FUZZ_CHECK(!stopped);  // nothing may arrive after the sink said stop
        events.push_back(std::move(e));
        if (stop_after_ != 0 && events.size() >= stop_after_) {
            stopped = true;
            return false;
        }
        return true;
    }
    std::size_t stop_after_;
};

struct Outcome {
    std::vector<Event> events;
    std::optional<boost::system::error_code> error;
};

Outcome read_whole(ws::Role role, std::size_t max_message, std::size_t stop_after,
                   std::string_view stream) {
    std::string bytes(stream);  // feed() unmasks in place
    ws::Reader reader(role, ws::ReaderLimits{max_message});
    Recorder sink(stop_after);
    auto r = reader.feed(std::span<char>(bytes.data(), bytes.size()), sink);
    Outcome out;
    out.events = std::move(sink.events);
    if (!r) {
        out.error = r.error();
    }
    return out;
}

Outcome read_chunked(ws::Role role, std::size_t max_message, std::size_t stop_after,
                     std::string_view stream, Chunker chunker) {
    ws::Reader reader(role, ws::ReaderLimits{max_message});
    Recorder sink(stop_after);
    Outcome out;
    std::size_t pos = 0;
    while (pos < stream.size() && !sink.stopped) {
        const std::size_t n = std::min(chunker.next(), stream.size() - pos);
        std::string chunk(stream.substr(pos, n));
        pos += n;
        auto r = reader.feed(std::span<char>(chunk.data(), chunk.size()), sink);
        if (!r) {
            out.error = r.error();
            break;
        }
        // What a connection holds between reads: one unfinished message plus one frame.
        FUZZ_CHECK(reader.buffered() <= max_message + 2 * ws::kMaxHeaderSize + 125);
        if (pos % 3 == 0) {
            reader.shrink();  // the transport calls this when a connection goes idle
        }
    }
    out.events = std::move(sink.events);
    return out;
}

bool valid_close_code(std::uint16_t code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

void check_event(const Event& e, std::size_t max_message) {
    switch (e.kind) {
        case Kind::kMessage:
            FUZZ_CHECK(e.opcode == ws::Opcode::kText || e.opcode == ws::Opcode::kBinary);
            FUZZ_CHECK(e.payload.size() <= max_message);
            if (e.opcode == ws::Opcode::kText) {
                FUZZ_CHECK(protocol::is_valid_utf8(e.payload));
            }
            break;
        case Kind::kPing:
        case Kind::kPong:
            FUZZ_CHECK(e.payload.size() <= 125);
            break;
        case Kind::kClose:
            FUZZ_CHECK(e.code == ws::close_code::kNoStatus || valid_close_code(e.code));
            FUZZ_CHECK(e.payload.size() <= 123);
            FUZZ_CHECK(protocol::is_valid_utf8(e.payload));
            break;
    }
}

// The peer's writer encodes the event; this role's reader must read back exactly it.
void check_reencode(ws::Role role, std::size_t max_message, const Event& e) {
    static const std::uint8_t kMask[4] = {0x37, 0xfa, 0x21, 0x3d};
    const std::uint8_t* mask = role == ws::Role::kServer ? kMask : nullptr;
    std::string frame;
    switch (e.kind) {
        case Kind::kMessage:
            ws::append_frame(frame, e.opcode, e.payload, mask);
            break;
        case Kind::kPing:
            ws::append_frame(frame, ws::Opcode::kPing, e.payload, mask);
            break;
        case Kind::kPong:
            ws::append_frame(frame, ws::Opcode::kPong, e.payload, mask);
            break;
        case Kind::kClose:
            if (e.code == ws::close_code::kNoStatus) {
                ws::append_frame(frame, ws::Opcode::kClose, {}, mask);
            } else {
                ws::append_close(frame, e.code, e.payload, mask);
            }
            break;
    }
    auto back = read_whole(role, max_message, 0, frame);
    FUZZ_CHECK(!back.error);
    FUZZ_CHECK(back.events.size() == 1);
    FUZZ_CHECK(back.events.front() == e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    const std::uint8_t config = in.byte();
    const std::uint8_t seed = in.byte();
    const ws::Role role = (config & 1) != 0 ? ws::Role::kClient : ws::Role::kServer;
    const std::size_t max_message = kMaxMessages[(config >> 1) & 3];
    const std::size_t stop_after = config >> 3;
    const std::string_view stream = in.rest();

    const Outcome whole = read_whole(role, max_message, stop_after, stream);
    const Outcome chunked =
        read_chunked(role, max_message, stop_after, stream, Chunker(seed, 1 + seed % 40));
    FUZZ_CHECK(whole.events == chunked.events);
    FUZZ_CHECK(whole.error == chunked.error);
    if (whole.error) {
        // Each error has a close code to send.
        const auto code = ws::close_code_for(*whole.error);
        FUZZ_CHECK(code == ws::close_code::kProtocolError || code == ws::close_code::kInvalidPayload ||
                   code == ws::close_code::kTooBig);
    }
    for (const Event& e : whole.events) {
        check_event(e, max_message);
        check_reencode(role, max_message, e);
    }
    return 0;
}
