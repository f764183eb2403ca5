#pragma once
// The encodings of the presence service: KV keys of presence entries (docs/control-plane.md,
// "Keys": key(x) = base64url of x without padding), room ids, and the opaque page tokens of
// GetPresence. Pure functions, thread-safe.

#include "roomcast/protocol/base64.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace roomcast::presence {

// base64url (RFC 4648 §5) without padding, strict (libs/protocol).
using protocol::base64url_decode;
using protocol::base64url_encode;

// ^[A-Za-z0-9_:@-]{1,128}$ (PRODUCT.md §2); such an id is also a valid NATS subject token.
bool valid_room_id(std::string_view room) noexcept;

// User ids come from JWT `sub` claims: anything non-empty up to this size. Longer ones are
// refused as input so one writer cannot inflate every replica's memory and every list.
inline constexpr std::size_t kMaxUserIdBytes = 256;
// Display names longer than this are cut (at a UTF-8 boundary): names are shown, not matched.
inline constexpr std::size_t kMaxNameBytes = 256;
bool valid_user_id(std::string_view user) noexcept;
std::string clip_name(std::string_view name);

// A presence entry key: entry.<edge id>.<key(room)>.<key(user id)>.
struct EntryKey {
    std::string edge;
    std::string room;
    std::string user;
};
std::string entry_key(std::string_view edge, std::string_view room, std::string_view user);
// nullopt when the key does not have that shape or decodes to an invalid room or user id.
std::optional<EntryKey> parse_entry_key(std::string_view key);

// Edge ids as the edge accepts them: [A-Za-z0-9_-]{1,64}.
bool valid_edge_id(std::string_view edge) noexcept;

// GetPresence page tokens: opaque to clients (today base64url of a version byte and the last
// listed user id). decode_page_token returns nullopt for anything this service did not issue.
inline constexpr std::size_t kMaxPageTokenBytes = 512;
std::string encode_page_token(std::string_view last_user_id);
std::optional<std::string> decode_page_token(std::string_view token);

}  // namespace roomcast::presence
