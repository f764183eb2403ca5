// The path that turns client bytes into the edge's collaboration requests (join, leave,
// publish, history, presence): Engine.IO messages → sio::Decoder with the server's default
// limits → the event name and sio::Args exactly as sio::Server's Client::on_packet builds
// them → what Collab does with a publish's data before it reaches the bus.
//
// Collab's own validation (room id, event name, echo, since, limit) lives in private
// functions of services/edge/app/collab.cpp that need a live Socket, NATS and the ACL cache;
// there is no pure function to call yet (docs/reliability.md names the one to extract). Until
// then this target checks the layers those handlers stand on.
//
// Input: as sio_decoder (sio_input.hpp).
//
// Checks: every event the server would dispatch re-encodes through sio::encode_event (the
// edge's outbound encoder for events and broadcasts) into a packet a client decoder reads back
// as the same event, arguments, attachments and ack id; Args::binary_of agrees with the
// placeholder rules; the data of a publish, serialized as Collab stores it (to_json), parses
// back to the same value and passes the checks Collab::deliver applies before fanning a stored
// event out (so a publish the edge accepts is never dropped or altered on the way to the room);
// an error ack for any ack id decodes on the client.

#include "fuzz_check.hpp"
#include "sio_input.hpp"

#include "socketio/server.hpp"

#include "roomcast/protocol/json.hpp"
#include "roomcast/protocol/socketio.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>

namespace psio = roomcast::protocol::sio;
namespace protocol = roomcast::protocol;
namespace sio = roomcast::sio;
namespace json = boost::json;

namespace {

constexpr std::string_view kRequests[] = {"join", "leave", "publish", "history", "presence"};

// Decodes an outbound Engine.IO message as socket.io-client would (text, then binaries).
std::optional<psio::Packet> client_decode(const roomcast::transport::OutMessage& m) {
    FUZZ_CHECK(!m.text.empty() && m.text.front() == '4');
    psio::Decoder decoder;
    auto r = decoder.on_text(std::string_view(m.text).substr(1));
    if (!r) {
        return std::nullopt;
    }
    std::optional<psio::Packet> out = std::move(*r);
    for (const auto& b : m.binaries) {
        FUZZ_CHECK(!out.has_value());
        auto rb = decoder.on_binary(b);
        FUZZ_CHECK(rb.has_value());
        out = std::move(*rb);
    }
    return out;
}

void check_binary_of(const sio::Args& args) {
    for (const json::value& v : args.values()) {
        std::uint32_t num = 0;
        const std::string* bytes = args.binary_of(v);
        if (psio::is_placeholder(v, num) && num < args.attachments().size()) {
            FUZZ_CHECK(bytes == &args.attachments()[num]);
        } else {
            FUZZ_CHECK(bytes == nullptr);
        }
    }
}

void check_reencode(std::string_view nsp, const std::string& event, const sio::Args& args,
                    std::optional<std::uint64_t> id) {
    auto message = sio::encode_event(nsp, event, args, id);
    auto back = client_decode(*message);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(back->nsp == nsp);
    FUZZ_CHECK(back->id == id);
    FUZZ_CHECK(back->type == (args.attachments().empty() ? psio::PacketType::kEvent
                                                         : psio::PacketType::kBinaryEvent));
    const auto& values = back->data->as_array();
    FUZZ_CHECK(values.size() == args.size() + 1);
    FUZZ_CHECK(values[0].is_string() && values[0].as_string() == event);
    for (std::size_t i = 0; i < args.size(); ++i) {
        FUZZ_CHECK(protocol::to_json(values[i + 1]) == protocol::to_json(args[i]));
    }
    FUZZ_CHECK(back->attachments == args.attachments());
}

// What Collab::on_publish stores (data_json) and Collab::deliver checks again before fan-out.
void check_publish(const sio::Args& args) {
    if (args.size() == 0 || !args[0].is_object()) {
        return;
    }
    const json::value* data = args[0].as_object().if_contains("data");
    const std::string data_json = data != nullptr ? protocol::to_json(*data) : "null";
    auto stored = protocol::parse_json(data_json);
    FUZZ_CHECK(stored.has_value());
    FUZZ_CHECK(protocol::to_json(*stored) == data_json);
    // Open bug: a text (non-binary) publish whose data holds a placeholder-shaped object is
    // acked and stored, then dropped by every edge's Collab::deliver, so members never get an
    // event the publisher was told succeeded.
    FUZZ_CHECK_OPEN(
        psio::placeholders_valid(*stored, static_cast<std::uint32_t>(args.attachments().size())),
        "publish-placeholder-data");
}

void check_error_ack(std::string_view nsp, std::uint64_t id) {
    json::object error;
    error["code"] = "bad_request";
    error["message"] = "room must match ^[A-Za-z0-9_:@-]{1,128}$";
    json::object body;
    body["ok"] = false;
    body["error"] = std::move(error);
    json::array payload;
    payload.push_back(std::move(body));
    std::string text = "4";
    psio::encode(text, psio::PacketType::kAck, nsp, id, protocol::to_json(payload));
    auto back = client_decode(roomcast::transport::OutMessage{std::move(text), {}});
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(back->type == psio::PacketType::kAck && back->id == id && back->nsp == nsp);
}

void on_packet(psio::Packet&& p) {
    if (p.type != psio::PacketType::kEvent && p.type != psio::PacketType::kBinaryEvent) {
        return;
    }
    // As Client::on_packet (services/edge/socketio/server.cpp) builds the dispatch.
    auto& values = p.data->as_array();
    std::string event = values[0].is_string() ? std::string(values[0].get_string())
                                              : protocol::to_json(values[0]);
    values.erase(values.begin());
    const sio::Args args(std::move(values), std::move(p.attachments));
    check_binary_of(args);
    check_reencode(p.nsp, event, args, p.id);
    if (std::find(std::begin(kRequests), std::end(kRequests), event) == std::end(kRequests)) {
        return;
    }
    if (event == "publish") {
        check_publish(args);
    }
    if (p.id) {
        check_error_ack(p.nsp, *p.id);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto messages =
        roomcast::fuzz::split_messages(std::string_view(reinterpret_cast<const char*>(data), size));
    psio::Decoder decoder(sio::ServerOptions{}.decoder);
    for (const auto& m : messages) {
        auto r = m.binary ? decoder.on_binary(m.bytes) : decoder.on_text(m.bytes);
        if (r && *r) {
            on_packet(std::move(**r));
        }
    }
    return 0;
}
