// The path that turns client bytes into the edge's collaboration requests (join, leave,
// publish, history, presence): Engine.IO messages → sio::Decoder with the server's default
// limits → the event name and sio::Args exactly as sio::Server's Client::on_packet builds
// them → the request parsers every handler of Collab starts with (services/edge/app/requests.hpp:
// shape, room id, sizes; rights and state come after, in Collab).
//
// Input: as sio_decoder (sio_input.hpp).
//
// Checks: every event the server would dispatch re-encodes through sio::encode_event (the
// edge's outbound encoder for events and broadcasts) into a packet a client decoder reads back
// as the same event, arguments, attachments and ack id; Args::binary_of agrees with the
// placeholder rules; a request the parsers accept has a valid room id (a single safe NATS
// subject token), and a publish they accept is stored data that parses back unchanged and
// passes the checks Collab::deliver applies before fan-out (so an acknowledged publish is never
// dropped or altered on its way to the room), within the size limit; history limits are in
// range; a refused request has a documented code, and its error ack decodes on the client.

#include "fuzz_check.hpp"
#include "sio_input.hpp"

#include "app/requests.hpp"
#include "socketio/server.hpp"

#include "roomcast/contract/ids.hpp"
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

namespace requests = roomcast::edge::requests;

// The request's room as sent, if it is a string.
std::optional<std::string> sent_room(const sio::Args& args) {
    if (args.size() == 0 || !args[0].is_object()) {
        return std::nullopt;
    }
    const auto* room = args[0].as_object().if_contains("room");
    if (room == nullptr || !room->is_string()) {
        return std::nullopt;
    }
    return std::string(room->get_string());
}

void check_room(const std::string& room, const sio::Args& args) {
    FUZZ_CHECK(roomcast::contract::valid_room_id(room));
    FUZZ_CHECK(room.find_first_of(".*> \t\r\n") == std::string::npos);
    FUZZ_CHECK(sent_room(args) == room);
}

void check_error(const requests::Error& e) {
    FUZZ_CHECK(e.code == roomcast::edge::error_code::kBadRequest ||
               e.code == roomcast::edge::error_code::kPayloadTooLarge);
    FUZZ_CHECK(!e.message.empty());
}

// Parses the request as its handler does; returns the error the ack would carry, if any.
std::optional<requests::Error> check_request(const std::string& event, const sio::Args& args) {
    const requests::Limits limits;
    if (event == "publish") {
        auto r = requests::parse_publish(args, limits);
        if (auto* e = std::get_if<requests::Error>(&r)) {
            return *e;
        }
        const auto& p = std::get<requests::PublishRequest>(r);
        check_room(p.room, args);
        FUZZ_CHECK(roomcast::contract::valid_event_name(p.event));
        // What Collab stores (data_json) and Collab::deliver checks again before fan-out.
        auto stored = protocol::parse_json(p.data_json);
        FUZZ_CHECK(stored.has_value());
        FUZZ_CHECK(protocol::to_json(*stored) == p.data_json);
        FUZZ_CHECK(psio::placeholders_valid(*stored, static_cast<std::uint32_t>(args.attachments().size())));
        std::size_t bytes = p.data_json.size();
        for (const auto& a : args.attachments()) {
            bytes += a.size();
        }
        FUZZ_CHECK(p.bytes == bytes && bytes <= limits.max_publish_bytes);
        return std::nullopt;
    }
    if (event == "history") {
        auto r = requests::parse_history(args, limits);
        if (auto* e = std::get_if<requests::Error>(&r)) {
            return *e;
        }
        const auto& h = std::get<requests::HistoryRequest>(r);
        check_room(h.room, args);
        FUZZ_CHECK(h.limit >= 1 && h.limit <= limits.history_max);
        const auto* since = args[0].as_object().if_contains("since");
        FUZZ_CHECK(h.since.has_value() == (since != nullptr && !since->is_null()));
        return std::nullopt;
    }
    auto r = requests::parse_room(args);  // join, leave, presence
    if (auto* e = std::get_if<requests::Error>(&r)) {
        FUZZ_CHECK(!sent_room(args) || !roomcast::contract::valid_room_id(*sent_room(args)) ||
                   args.size() == 0);
        return *e;
    }
    check_room(std::get<requests::RoomRequest>(r).room, args);
    return std::nullopt;
}

void check_error_ack(std::string_view nsp, std::uint64_t id, const requests::Error& e) {
    json::object error;
    error["code"] = e.code;
    error["message"] = e.message;
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
    const auto error = check_request(event, args);
    if (error) {
        check_error(*error);
        if (p.id) {
            check_error_ack(p.nsp, *p.id, *error);
        }
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
