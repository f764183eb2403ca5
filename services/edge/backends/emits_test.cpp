// What an edge accepts on roomcast.emit, and the packet it sends for it.
#include "backends/emits.hpp"

#include "roomcast/backend/v1/backend.pb.h"

#include <gtest/gtest.h>

namespace roomcast::edge::backends {
namespace {

std::string packet_text(const transport::OutMessagePtr& m) {
    return m ? m->text : std::string();
}

class ParseEmitTest : public ::testing::Test {
protected:
    ParseEmitTest() {
        emit_.set_user_id("alice");
        emit_.set_event("notice");
        emit_.set_args_json(R"([{"n":1}])");
    }
    std::optional<ParsedEmit> parse() const {
        return parse_emit(emit_.SerializeAsString(), limits_,
                          [](std::string_view nsp) { return nsp == "/" || nsp == "/admin"; });
    }
    backend::v1::Emit emit_;
    EmitLimits limits_{.max_bytes = 100, .max_attachments = 2};
};

TEST_F(ParseEmitTest, AUserEmitIsEncodedOnceForItsNamespace) {
    auto p = parse();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->nsp, "/");
    EXPECT_EQ(p->user_id, "alice");
    EXPECT_TRUE(p->socket_id.empty());
    EXPECT_EQ(packet_text(p->message), R"(42["notice",{"n":1}])");

    emit_.set_socket_id("abc_DEF-1");
    emit_.set_namespace_("/admin");
    emit_.set_args_json("");
    emit_.set_event("bin");
    emit_.set_args_json(R"([{"_placeholder":true,"num":0}])");
    emit_.add_attachments("\x01");
    p = parse();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->socket_id, "abc_DEF-1");
    EXPECT_TRUE(p->user_id.empty());
    EXPECT_EQ(packet_text(p->message), R"(451-/admin,["bin",{"_placeholder":true,"num":0}])");
}

TEST_F(ParseEmitTest, NoArgumentsIsAnEmptyArray) {
    emit_.set_args_json("");
    auto p = parse();
    ASSERT_TRUE(p);
    EXPECT_EQ(packet_text(p->message), R"(42["notice"])");
}

TEST_F(ParseEmitTest, InvalidEmitsAreRefused) {
    auto refused = [this](auto change, const char* what) {
        backend::v1::Emit saved = emit_;
        change(emit_);
        EXPECT_FALSE(parse()) << what;
        emit_ = saved;
    };
    using E = backend::v1::Emit;
    refused([](E& e) { e.clear_user_id(); }, "no target");
    refused([](E& e) { e.set_user_id(""); }, "empty user");
    refused([](E& e) { e.set_socket_id("a.b"); }, "socket id outside the alphabet");
    refused([](E& e) { e.set_event("join"); }, "a protocol event");
    refused([](E& e) { e.set_event("connect"); }, "a Socket.IO reserved event");
    refused([](E& e) { e.set_event(""); }, "no event");
    refused([](E& e) { e.set_namespace_("/other"); }, "a namespace not served");
    refused([](E& e) { e.set_args_json(R"({"a":1})"); }, "args not an array");
    refused([](E& e) { e.set_args_json("[1,"); }, "args not JSON");
    refused([](E& e) { e.set_args_json("[\"" + std::string(100, 'x') + "\"]"); }, "over max_bytes");
    refused([](E& e) { e.set_args_json(R"([{"_placeholder":true,"num":0}])"); }, "dangling placeholder");
    refused([](E& e) {
        for (int i = 0; i < 3; ++i) {
            e.add_attachments("x");
        }
    }, "too many attachments");
    EXPECT_FALSE(parse_emit("\xff\xff\xff", limits_, [](std::string_view) { return true; }));
    EXPECT_TRUE(parse());
}

}  // namespace
}  // namespace roomcast::edge::backends
