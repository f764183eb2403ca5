#pragma once
// The load generator's messages: what publishers put in `data`, and how receivers read it back
// out of the server's EVENT packet: `["<event>",data,meta,"<offset>"]` for a stored event,
// `["<event>",data,meta]` (meta without offset) for an ephemeral one (PRODUCT.md §2).
//
//   data message  {"p":"<publisher>","s":<seq>,"t":"<CLOCK_REALTIME ns>","pad":"xxx…"}
//   end marker    {"p":"<publisher>","end":<count sent>,"refused":<count refused>}
//   churn message {"p":"<client>","churn":<n>,"t":"<ns>"}
//
// Receiving is on the hot path (one parse per delivery), so decode_event first tries a scanner
// for exactly the bytes the edge writes (it re-serializes data like JSON.stringify, keys in
// insertion order) and only falls back to a full JSON parse when the shape differs. Neither
// reads past `data`: meta and the trailing offset (present or not) do not matter to the load
// generator, so stored and ephemeral events take the same fast path.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace roomcast::loadgen {

struct LgMessage {
    enum class Kind : std::uint8_t { kData, kEnd, kChurn };
    Kind kind = Kind::kData;
    std::string_view publisher;  // points into the decoded text (or the fallback's storage)
    std::uint64_t seq = 0;       // kData: sequence; kChurn: cycle number
    std::uint64_t end = 0;       // kEnd
    std::uint64_t refused = 0;   // kEnd
    std::optional<std::int64_t> sent_ns;  // kData, kChurn
    // The event ended with an offset argument (a stored event); false for an ephemeral one.
    // Lets a run show that what it asked for is what the server delivered.
    bool offset = false;
};

// How a publish is delivered: stored (JetStream: an offset, history, recovery) or ephemeral
// (`"ephemeral":true`: core NATS, no offset, may be dropped under backpressure).
enum class Delivery : std::uint8_t { kStored, kEphemeral };

// Appends the Socket.IO EVENT payload of a publish request (after "42<ack id>"):
// ["publish",{"room":…,"event":…,"data":…}] (ephemeral: …,"data":…,"ephemeral":true}]).
// `event_json` is the event name as a JSON string. open + the data + close, so the data can be
// written in place.
void append_publish_open(std::string& out, std::string_view room, std::string_view event_json);
void append_publish_close(std::string& out, Delivery delivery = Delivery::kStored);
void append_publish(std::string& out, std::string_view room, std::string_view event_json,
                    std::string_view data_json, Delivery delivery = Delivery::kStored);

// Whether an ACK payload (the JSON array after "43<id>") says ok: `[{"ok":true,"offset":"N"}]`
// for a stored publish, `[{"ok":true}]` for an ephemeral one (and joins' `{"ok":true,"room":…}`).
// The edge and the baseline both write "ok" first; a prefix test keeps the hot path cheap.
bool is_ok_ack(std::string_view payload) noexcept;
void append_data(std::string& out, std::string_view publisher, std::uint64_t seq,
                 std::int64_t sent_ns, std::size_t pad_bytes);
void append_end(std::string& out, std::string_view publisher, std::uint64_t end,
                std::uint64_t refused);
void append_churn(std::string& out, std::string_view client, std::uint64_t cycle,
                  std::int64_t sent_ns);

// What an EVENT payload (the JSON array after "2" / "2<ack id>") holds for the load generator.
enum class EventMatch : std::uint8_t {
    kMessage,  // the configured event with a load-generator message (filled in)
    kOther,    // another event (presence, kicked, …)
    kForeign,  // the configured event, but data is not a load-generator message
};
// `storage` keeps the publisher id alive when the fallback parser had to copy it.
EventMatch decode_event(std::string_view payload, std::string_view event_json, LgMessage& out,
                        std::string& storage);

}  // namespace roomcast::loadgen
