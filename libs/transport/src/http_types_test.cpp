// The small HTTP values the layers above the transport build.

#include "roomcast/transport/http_types.hpp"

#include <gtest/gtest.h>

namespace roomcast::transport {
namespace {

TEST(HttpTypesTest, PlainTextResponsesAreNeverCached) {
    const HttpResponse r = plain_text_response(503, "not ready\n");
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
    EXPECT_EQ(r.headers, (HeaderList{{"Cache-Control", "no-store"}}));
    EXPECT_EQ(r.body, "not ready\n");
    EXPECT_FALSE(r.close);
}

}  // namespace
}  // namespace roomcast::transport
