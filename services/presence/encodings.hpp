#pragma once
// The presence service's own encodings: display names as it stores and shows them, and the
// opaque page tokens of GetPresence. (KV keys, subjects and id rules are the bus contract's:
// libs/contract.) Pure functions, thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace roomcast::presence {

// Display names longer than contract::kMaxUserNameBytes are cut (at a UTF-8 boundary): names
// are shown, not matched, so a long one costs memory and bytes in every list, nothing more.
std::string clip_name(std::string_view name);

// GetPresence page tokens: opaque to clients (today base64url of a version byte and the last
// listed user id). decode_page_token returns nullopt for anything this service did not issue.
inline constexpr std::size_t kMaxPageTokenBytes = 512;
std::string encode_page_token(std::string_view last_user_id);
std::optional<std::string> decode_page_token(std::string_view token);

}  // namespace roomcast::presence
