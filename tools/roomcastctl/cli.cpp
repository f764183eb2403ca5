// Each command: check its flags, build the request, call, print. The contract is in cli.hpp.
#include "cli.hpp"

#include "config_file.hpp"
#include "format.hpp"
#include "reflection_client.hpp"

#include "roomcast/auth/v1/auth.grpc.pb.h"
#include "roomcast/core/config.hpp"
#include "roomcast/grpcutil/grpcutil.hpp"
#include "roomcast/presence/v1/presence.grpc.pb.h"
#include "roomcast/protocol/json.hpp"
#include "roomcast/rooms/v1/rooms.grpc.pb.h"

#include <grpcpp/grpcpp.h>
#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <istream>
#include <iterator>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

namespace roomcast::ctl {

bool Cancellation::cancel() {
    const std::lock_guard lock(mutex_);
    cancelled_ = true;
    if (!handler_) {
        return false;
    }
    handler_();
    return true;
}

bool Cancellation::cancelled() const {
    const std::lock_guard lock(mutex_);
    return cancelled_;
}

Cancellation::Registration::Registration(Cancellation* owner, std::function<void()> handler)
    : owner_(owner) {
    const std::lock_guard lock(owner_->mutex_);
    owner_->handler_ = std::move(handler);
    if (owner_->cancelled_) {
        owner_->handler_();
    }
}

Cancellation::Registration::~Registration() {
    // Taking the lock waits for a handler call in progress on the signal thread.
    const std::lock_guard lock(owner_->mutex_);
    owner_->handler_ = nullptr;
}

namespace {

namespace rpb = roomcast::rooms::v1;
namespace ppb = roomcast::presence::v1;
namespace apb = roomcast::auth::v1;

// Data read for `rooms publish` from a file or stdin: more than any server accepts (gRPC's
// default receive limit is 4 MiB), small enough that a wrong file (a disk image) fails fast
// instead of filling memory.
constexpr std::size_t kMaxDataBytes = std::size_t{16} << 20;
// Pages one --all may walk: a server that keeps handing out new page tokens cannot keep the
// client running forever.
constexpr int kMaxPages = 10'000;

// Which server a command talks to; kGiven is `grpc ... --addr`.
enum class Target { kRooms, kPresence, kAuth, kGiven };

std::string_view code_name(grpc::StatusCode code) {
    switch (code) {
        case grpc::StatusCode::OK:
            return "OK";
        case grpc::StatusCode::CANCELLED:
            return "CANCELLED";
        case grpc::StatusCode::UNKNOWN:
            return "UNKNOWN";
        case grpc::StatusCode::INVALID_ARGUMENT:
            return "INVALID_ARGUMENT";
        case grpc::StatusCode::DEADLINE_EXCEEDED:
            return "DEADLINE_EXCEEDED";
        case grpc::StatusCode::NOT_FOUND:
            return "NOT_FOUND";
        case grpc::StatusCode::ALREADY_EXISTS:
            return "ALREADY_EXISTS";
        case grpc::StatusCode::PERMISSION_DENIED:
            return "PERMISSION_DENIED";
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
            return "RESOURCE_EXHAUSTED";
        case grpc::StatusCode::FAILED_PRECONDITION:
            return "FAILED_PRECONDITION";
        case grpc::StatusCode::ABORTED:
            return "ABORTED";
        case grpc::StatusCode::OUT_OF_RANGE:
            return "OUT_OF_RANGE";
        case grpc::StatusCode::UNIMPLEMENTED:
            return "UNIMPLEMENTED";
        case grpc::StatusCode::INTERNAL:
            return "INTERNAL";
        case grpc::StatusCode::UNAVAILABLE:
            return "UNAVAILABLE";
        case grpc::StatusCode::DATA_LOSS:
            return "DATA_LOSS";
        case grpc::StatusCode::UNAUTHENTICATED:
            return "UNAUTHENTICATED";
        default:
            return "UNKNOWN";
    }
}

std::string_view target_name(Target target) {
    switch (target) {
        case Target::kRooms:
            return "rooms";
        case Target::kPresence:
            return "presence";
        case Target::kAuth:
            return "auth";
        case Target::kGiven:
            break;
    }
    return "";
}

bool ascii_iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

// Reads all of `in`, at most kMaxDataBytes.
Checked<std::string> read_capped(std::istream& in, std::string_view what) {
    std::string data;
    char buffer[64 * 1024];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        data.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (data.size() > kMaxDataBytes) {
            return Problem{std::string(what) + " is larger than " +
                           std::to_string(kMaxDataBytes >> 20) + " MiB"};
        }
    }
    if (in.bad()) {
        return Problem{"cannot read " + std::string(what)};
    }
    return ok(std::move(data));
}

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    return std::string(text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1));
}

// GetPresenceResponse's totals describe the room, not a page: the last page's are the newest,
// even when zero (which MergeFrom would not copy).
void take_page_totals(ppb::GetPresenceResponse& merged, const ppb::GetPresenceResponse& page) {
    merged.set_clients(page.clients());
    merged.set_users_total(page.users_total());
}
template <class Response>
void take_page_totals(Response&, const Response&) {}

// What one command invocation needs: its parsed line, the streams, and channels to the
// servers. Lives for one run() on one thread.
class Session {
public:
    Session(const CommandLine& line, Io& io, grpcutil::Channel channel_settings)
        : line_(line), io_(io), channel_settings_(std::move(channel_settings)) {}

    const CommandLine& line() const { return line_; }
    Io& io() { return io_; }
    const std::string& arg(std::size_t index) const { return line_.args.at(index); }

    // `grpc list|describe --addr A`; a usage error when missing.
    std::optional<int> require_given_address() {
        const auto addr = line_.value("addr");
        if (!addr || addr->empty()) {
            return usage("--addr is required (the server to ask, e.g. --addr 127.0.0.1:50051)");
        }
        given_address_ = *addr;
        return std::nullopt;
    }

    std::string address(Target target) const {
        switch (target) {
            case Target::kRooms:
                return line_.global.rooms_addr;
            case Target::kPresence:
                return line_.global.presence_addr;
            case Target::kAuth:
                return line_.global.auth_addr;
            case Target::kGiven:
                break;
        }
        return given_address_;
    }

    std::shared_ptr<grpc::Channel> channel(Target target) {
        const std::string addr = address(target);
        auto& channel = channels_[addr];
        if (!channel) {
            // Plaintext, as the local stack serves, unless --tls (or --ca, ...) was given.
            channel = grpc::CreateCustomChannel(addr, channel_settings_.credentials,
                                                channel_settings_.arguments);
        }
        return channel;
    }

    std::chrono::system_clock::time_point deadline() const {
        return std::chrono::system_clock::now() + line_.global.timeout;
    }

    // A context with the deadline and, except for the methods that need none (GetJwks,
    // reflection: the token should not travel where it is not asked for), the bearer token.
    std::unique_ptr<grpc::ClientContext> context() const {
        auto context = std::make_unique<grpc::ClientContext>();
        context->set_deadline(deadline());
        add_token(*context);
        return context;
    }

    void add_token(grpc::ClientContext& context) const {
        const CommandId id = line_.command->id;
        const bool needs_token = id != CommandId::kTokenJwks && id != CommandId::kGrpcList &&
                                 id != CommandId::kGrpcDescribe;
        if (needs_token && !line_.global.admin_token.empty()) {
            grpcutil::add_bearer(context, line_.global.admin_token);
        }
    }

    int usage(std::string_view message) const {
        io_.err << kProgram << ": " << line_.command_name() << ": " << message << "\nTry '"
                << line_.help_command() << "'.\n";
        return kExitUsage;
    }

    // The method error messages name: the command's, unless a flag chose another (rooms list
    // --live).
    std::string_view method() const {
        return method_.empty() ? line_.command->method : std::string_view(method_);
    }
    void set_method(std::string method) { method_ = std::move(method); }

    int failed(const grpc::Status& status, Target target) const {
        io_.err << kProgram << ": " << method() << ": " << code_name(status.error_code());
        if (!status.error_message().empty()) {
            io_.err << ": " << status.error_message();
        }
        io_.err << '\n';
        const std::string addr = address(target);
        switch (status.error_code()) {
            case grpc::StatusCode::UNAUTHENTICATED:
                if (line_.global.admin_token.empty()) {
                    io_.err << "hint: no admin token was given: set ROOMCAST_ADMIN_TOKEN, pass "
                               "--admin-token-file, or use a context that names a token file\n";
                }
                break;
            case grpc::StatusCode::UNAVAILABLE:
                if (target == Target::kGiven) {
                    io_.err << "hint: is a gRPC server listening at " << addr << "?\n";
                } else {
                    const std::string flag = std::string(target_name(target)) + "-addr";
                    io_.err << "hint: is the " << target_name(target) << " service running at "
                            << addr << "? (--" << flag << ", " << core::Config::env_name(flag)
                            << ", --server, ROOMCAST_SERVER";
                    if (!line_.global.context.empty()) {
                        io_.err << ", context " << line_.global.context;
                    }
                    io_.err << ")\n";
                }
                // A TLS/plaintext mismatch or an untrusted certificate looks the same from here.
                if (line_.global.tls) {
                    io_.err << "hint: with --tls the server must serve TLS with a certificate "
                               "--ca trusts, for the address's host or --tls-server-name\n";
                } else {
                    io_.err << "hint: if the server was started with --grpc-tls-cert, pass --tls "
                               "(and --ca)\n";
                }
                break;
            case grpc::StatusCode::DEADLINE_EXCEEDED:
                io_.err << "hint: no answer from " << addr << " within --timeout "
                        << line_.global.timeout.count() << "ms\n";
                break;
            case grpc::StatusCode::UNIMPLEMENTED:
                if (target == Target::kGiven) {
                    io_.err << "hint: " << addr << " does not serve gRPC server reflection\n";
                } else {
                    io_.err << "hint: " << addr << " does not serve this method; is it the "
                            << target_name(target) << " service?\n";
                }
                break;
            default:
                break;
        }
        return exit_code_for_status(static_cast<int>(status.error_code()));
    }

    int problem(const Problem& problem) const {
        io_.err << kProgram << ": " << method() << ": " << problem.what << '\n';
        return kExitOther;
    }

    // The response as JSON with --json, else as `human` renders it.
    template <class Response>
    int emit(const Response& response,
             const std::function<std::string(const Response&)>& human) const {
        const Checked<std::string> text =
            line_.global.json ? to_json(response) : ok(human(response));
        if (!text) {
            return problem(text.error());
        }
        io_.out << *text;
        if (line_.global.json) {
            io_.out << '\n';
        }
        io_.out.flush();
        return kExitOk;
    }

    // One unary call: `call(context, &response)` is the stub method.
    template <class Response, class Call>
    int unary(Target target, Call&& call,
              const std::function<std::string(const Response&)>& human) {
        Response response;
        const auto context = this->context();
        const grpc::Status status = call(context.get(), &response);
        if (!status.ok()) {
            return failed(status, target);
        }
        return emit(response, human);
    }

    // A paged list call (page_token → next_page_token). With --all, walks every page and prints
    // one merged response whose next_page_token is "".
    template <class Request, class Response, class Call>
    int paged(Target target, Request request, Call&& call,
              const std::function<std::string(const Response&)>& human) {
        if (const auto size = line_.value("page-size")) {
            const auto parsed = parse_positive_int32(*size);
            if (!parsed) {
                return usage("invalid --page-size: " + parsed.error().what);
            }
            request.set_page_size(*parsed);
        }
        if (const auto token = line_.value("page-token")) {
            request.set_page_token(*token);
        }
        const bool all = line_.has("all");
        Response merged;
        for (int page = 1;; ++page) {
            Response one;
            const auto context = this->context();
            const grpc::Status status = call(context.get(), request, &one);
            if (!status.ok()) {
                return failed(status, target);
            }
            merged.MergeFrom(one);
            take_page_totals(merged, one);
            merged.set_next_page_token(one.next_page_token());
            if (!all || one.next_page_token().empty()) {
                break;
            }
            if (one.next_page_token() == request.page_token()) {
                return failed({grpc::StatusCode::INTERNAL,
                               "the server returned the page token it was given; stopping"},
                              target);
            }
            if (page >= kMaxPages) {
                return failed({grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "more than " + std::to_string(kMaxPages) +
                                   " pages; narrow the query or page with --page-token"},
                              target);
            }
            request.set_page_token(one.next_page_token());
        }
        const int code = emit(merged, human);
        if (code == kExitOk && !line_.global.json && !merged.next_page_token().empty()) {
            // On stderr, so the table on stdout stays a table.
            io_.err << "more results: --page-token " << merged.next_page_token() << " (or --all)\n";
        }
        return code;
    }

private:
    const CommandLine& line_;
    Io& io_;
    std::string given_address_;
    std::string method_;
    grpcutil::Channel channel_settings_;
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

// --label k=v ... into a map; duplicate keys are a usage error rather than last-wins, since
// one of the two values would be dropped silently.
Checked<std::map<std::string, std::string>> labels_from(const CommandLine& line) {
    std::map<std::string, std::string> labels;
    for (const std::string& text : line.values("label")) {
        auto label = parse_label(text);
        if (!label) {
            return Problem{"invalid --label: " + label.error().what};
        }
        const std::string key = label->first;
        if (!labels.emplace(std::move(*label)).second) {
            return Problem{"--label " + key + " given twice"};
        }
    }
    return labels;
}

// --public / --private; nullopt when neither is given.
Checked<std::optional<rpb::Visibility>> visibility_from(const CommandLine& line) {
    if (line.has("public") && line.has("private")) {
        return Problem{"--public and --private exclude each other"};
    }
    if (line.has("private")) {
        return std::optional(rpb::VISIBILITY_PRIVATE);
    }
    if (line.has("public")) {
        return std::optional(rpb::VISIBILITY_PUBLIC);
    }
    return std::optional<rpb::Visibility>();
}

std::unique_ptr<rpb::RoomAdmin::Stub> rooms_stub(Session& s) {
    return rpb::RoomAdmin::NewStub(s.channel(Target::kRooms));
}

int rooms_create(Session& s) {
    rpb::CreateRoomRequest request;
    request.set_room_id(s.arg(0));
    const auto visibility = visibility_from(s.line());
    if (!visibility) {
        return s.usage(visibility.error().what);
    }
    request.set_visibility(visibility->value_or(rpb::VISIBILITY_PUBLIC));
    const auto labels = labels_from(s.line());
    if (!labels) {
        return s.usage(labels.error().what);
    }
    request.mutable_labels()->insert(labels->begin(), labels->end());
    const auto stub = rooms_stub(s);
    return s.unary<rpb::CreateRoomResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::CreateRoomResponse* r) {
            return stub->CreateRoom(c, request, r);
        },
        [](const rpb::CreateRoomResponse& r) { return room_fields(r.room()); });
}

int rooms_get(Session& s) {
    rpb::GetRoomRequest request;
    request.set_room_id(s.arg(0));
    const auto stub = rooms_stub(s);
    return s.unary<rpb::GetRoomResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::GetRoomResponse* r) {
            return stub->GetRoom(c, request, r);
        },
        [](const rpb::GetRoomResponse& r) { return room_fields(r.room()); });
}

int rooms_list_live(Session& s) {
    ppb::ListLiveRoomsRequest request;
    request.set_prefix(s.line().value("prefix").value_or(""));
    s.set_method("roomcast.presence.v1.Presence/ListLiveRooms");
    const auto stub = ppb::Presence::NewStub(s.channel(Target::kPresence));
    return s.paged<ppb::ListLiveRoomsRequest, ppb::ListLiveRoomsResponse>(
        Target::kPresence, request,
        [&](grpc::ClientContext* c, const ppb::ListLiveRoomsRequest& q,
            ppb::ListLiveRoomsResponse* r) { return stub->ListLiveRooms(c, q, r); },
        [](const ppb::ListLiveRoomsResponse& r) { return live_rooms_table(r); });
}

int edges_list(Session& s) {
    const ppb::ListEdgesRequest request;
    const auto stub = ppb::Presence::NewStub(s.channel(Target::kPresence));
    return s.paged<ppb::ListEdgesRequest, ppb::ListEdgesResponse>(
        Target::kPresence, request,
        [&](grpc::ClientContext* c, const ppb::ListEdgesRequest& q, ppb::ListEdgesResponse* r) {
            return stub->ListEdges(c, q, r);
        },
        [](const ppb::ListEdgesResponse& r) { return edges_table(r); });
}

int rooms_list(Session& s) {
    if (s.line().has("live")) {
        return rooms_list_live(s);
    }
    rpb::ListRoomsRequest request;
    request.set_prefix(s.line().value("prefix").value_or(""));
    const auto stub = rooms_stub(s);
    return s.paged<rpb::ListRoomsRequest, rpb::ListRoomsResponse>(
        Target::kRooms, request,
        [&](grpc::ClientContext* c, const rpb::ListRoomsRequest& q, rpb::ListRoomsResponse* r) {
            return stub->ListRooms(c, q, r);
        },
        [](const rpb::ListRoomsResponse& r) { return rooms_table(r.rooms()); });
}

int rooms_update(Session& s) {
    rpb::UpdateRoomRequest request;
    request.set_room_id(s.arg(0));
    const auto visibility = visibility_from(s.line());
    if (!visibility) {
        return s.usage(visibility.error().what);
    }
    const auto labels = labels_from(s.line());
    if (!labels) {
        return s.usage(labels.error().what);
    }
    const bool clear = s.line().has("clear-labels");
    if (clear && !labels->empty()) {
        return s.usage("--clear-labels and --label exclude each other");
    }
    // Only what was asked for goes into the mask: an empty mask would mean "change both".
    if (*visibility) {
        request.set_visibility(**visibility);
        request.add_update_mask("visibility");
    }
    if (clear || !labels->empty()) {
        request.mutable_labels()->insert(labels->begin(), labels->end());
        request.add_update_mask("labels");
    }
    if (request.update_mask_size() == 0) {
        return s.usage("nothing to update: give --public, --private, --label or --clear-labels");
    }
    const auto stub = rooms_stub(s);
    return s.unary<rpb::UpdateRoomResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::UpdateRoomResponse* r) {
            return stub->UpdateRoom(c, request, r);
        },
        [](const rpb::UpdateRoomResponse& r) { return room_fields(r.room()); });
}

int rooms_delete(Session& s) {
    rpb::DeleteRoomRequest request;
    request.set_room_id(s.arg(0));
    const auto stub = rooms_stub(s);
    return s.unary<rpb::DeleteRoomResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::DeleteRoomResponse* r) {
            return stub->DeleteRoom(c, request, r);
        },
        [&](const rpb::DeleteRoomResponse&) { return "room " + request.room_id() + " deleted\n"; });
}

int rooms_members(Session& s) {
    rpb::ListMembersRequest request;
    request.set_room_id(s.arg(0));
    const auto stub = rooms_stub(s);
    return s.paged<rpb::ListMembersRequest, rpb::ListMembersResponse>(
        Target::kRooms, request,
        [&](grpc::ClientContext* c, const rpb::ListMembersRequest& q, rpb::ListMembersResponse* r) {
            return stub->ListMembers(c, q, r);
        },
        [](const rpb::ListMembersResponse& r) { return members_table(r.members()); });
}

int rooms_add(Session& s) {
    rpb::AddMemberRequest request;
    request.set_room_id(s.arg(0));
    request.set_user_id(s.arg(1));
    const std::string role = s.line().value("role").value_or("member");
    if (ascii_iequals(role, "member")) {
        request.set_role(rpb::ROLE_MEMBER);
    } else if (ascii_iequals(role, "viewer")) {
        request.set_role(rpb::ROLE_VIEWER);
    } else {
        return s.usage("invalid --role '" + role + "': member or viewer");
    }
    const auto stub = rooms_stub(s);
    return s.unary<rpb::AddMemberResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::AddMemberResponse* r) {
            return stub->AddMember(c, request, r);
        },
        [](const rpb::AddMemberResponse& r) {
            google::protobuf::RepeatedPtrField<rpb::Member> one;
            *one.Add() = r.member();
            return members_table(one);
        });
}

int rooms_remove(Session& s) {
    rpb::RemoveMemberRequest request;
    request.set_room_id(s.arg(0));
    request.set_user_id(s.arg(1));
    const auto stub = rooms_stub(s);
    return s.unary<rpb::RemoveMemberResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::RemoveMemberResponse* r) {
            return stub->RemoveMember(c, request, r);
        },
        [&](const rpb::RemoveMemberResponse&) {
            return request.user_id() + " removed from " + request.room_id() + "\n";
        });
}

int rooms_kick(Session& s) {
    rpb::KickUserRequest request;
    request.set_room_id(s.arg(0));
    request.set_user_id(s.arg(1));
    request.set_reason(s.line().value("reason").value_or(""));
    const auto stub = rooms_stub(s);
    return s.unary<rpb::KickUserResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::KickUserResponse* r) {
            return stub->KickUser(c, request, r);
        },
        [&](const rpb::KickUserResponse&) {
            return request.user_id() + " kicked from " + request.room_id() + "\n";
        });
}

// The JSON data of `rooms publish` and `users emit`: the argument at `index` or --data-file F
// ('-' in either place reads stdin), checked as JSON here so that a typo fails before anything
// is sent, with the parser's own reason. Absent (when not `required`): "" (the services' null).
Checked<std::string> json_data(Session& s, std::size_t index, bool required) {
    const auto& args = s.line().args;
    const auto file = s.line().value("data-file");
    const bool has_arg = args.size() > index;
    if (file && has_arg) {
        return Problem{"give the data either as an argument or with --data-file, not both"};
    }
    if (!file && !has_arg) {
        if (required) {
            return Problem{"missing <json data> (or --data-file F, '-' for stdin)"};
        }
        return ok(std::string());
    }
    Checked<std::string> data = ok(has_arg ? args[index] : std::string());
    if ((has_arg && args[index] == "-") || (file && *file == "-")) {
        data = read_capped(s.io().in, "stdin");
    } else if (file) {
        std::ifstream in(*file, std::ios::binary);
        if (!in) {
            return Problem{"cannot open --data-file " + *file};
        }
        data = read_capped(in, "--data-file " + *file);
    }
    if (!data) {
        return data;
    }
    if (auto parsed = protocol::parse_json(*data); !parsed) {
        return Problem{"the data is not JSON (" + parsed.error().message() +
                       "); quote it for the shell, e.g. '{\"text\":\"hi\"}'"};
    }
    return data;
}

int rooms_publish(Session& s) {
    rpb::PublishRequest request;
    request.set_room_id(s.arg(0));
    request.set_event(s.arg(1));
    auto data = json_data(s, 2, true);
    if (!data) {
        return s.usage(data.error().what);
    }
    request.set_data_json(std::move(*data));
    const auto stub = rooms_stub(s);
    return s.unary<rpb::PublishResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::PublishResponse* r) {
            return stub->Publish(c, request, r);
        },
        [&](const rpb::PublishResponse& r) {
            return "published " + request.event() + " to " + request.room_id() + " at offset " +
                   r.offset() + "\n";
        });
}

int rooms_history(Session& s) {
    rpb::HistoryRequest request;
    request.set_room_id(s.arg(0));
    if (const auto since = s.line().value("since")) {
        if (since->empty() || since->find_first_not_of("0123456789") != std::string::npos) {
            return s.usage("invalid --since '" + *since + "': an offset is a decimal number");
        }
        request.set_since(*since);
    }
    if (const auto limit = s.line().value("limit")) {
        const auto parsed = parse_positive_int32(*limit);
        if (!parsed) {
            return s.usage("invalid --limit: " + parsed.error().what);
        }
        request.set_limit(*parsed);
    }
    const auto stub = rooms_stub(s);
    return s.unary<rpb::HistoryResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::HistoryResponse* r) {
            return stub->History(c, request, r);
        },
        [](const rpb::HistoryResponse& r) { return history_table(r); });
}

int users_disconnect(Session& s) {
    rpb::DisconnectUserRequest request;
    request.set_user_id(s.arg(0));
    request.set_reason(s.line().value("reason").value_or(""));
    const auto stub = rooms_stub(s);
    return s.unary<rpb::DisconnectUserResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::DisconnectUserResponse* r) {
            return stub->DisconnectUser(c, request, r);
        },
        [&](const rpb::DisconnectUserResponse&) { return request.user_id() + " disconnected\n"; });
}

int users_emit(Session& s) {
    rpb::PublishToUserRequest request;
    const auto socket = s.line().value("socket");
    const auto& args = s.line().args;
    // <user> <event> [<data>], or with --socket: <event> [<data>].
    const std::size_t first = socket ? 0 : 1;
    if (args.size() < first + 1) {
        return s.usage(socket ? "missing <event>" : "missing <event> (after <user>)");
    }
    if (args.size() > first + 2) {
        return s.usage(socket ? "too many arguments: --socket replaces <user>"
                              : "too many arguments");
    }
    if (socket) {
        request.set_socket_id(*socket);
    } else {
        request.set_user_id(args[0]);
    }
    request.set_event(args[first]);
    request.set_namespace_(s.line().value("namespace").value_or(""));
    auto data = json_data(s, first + 1, false);
    if (!data) {
        return s.usage(data.error().what);
    }
    request.set_data_json(std::move(*data));
    const auto stub = rooms_stub(s);
    return s.unary<rpb::PublishToUserResponse>(
        Target::kRooms,
        [&](grpc::ClientContext* c, rpb::PublishToUserResponse* r) {
            return stub->PublishToUser(c, request, r);
        },
        [&](const rpb::PublishToUserResponse&) {
            const std::string target = request.has_socket_id() ? "socket " + request.socket_id()
                                                               : "user " + request.user_id();
            return "emitted " + request.event() + " to " + target + "\n";
        });
}

int presence_get(Session& s) {
    ppb::GetPresenceRequest request;
    request.set_room_id(s.arg(0));
    const auto stub = ppb::Presence::NewStub(s.channel(Target::kPresence));
    return s.paged<ppb::GetPresenceRequest, ppb::GetPresenceResponse>(
        Target::kPresence, request,
        [&](grpc::ClientContext* c, const ppb::GetPresenceRequest& q, ppb::GetPresenceResponse* r) {
            return stub->GetPresence(c, q, r);
        },
        [](const ppb::GetPresenceResponse& r) { return presence_table(r); });
}

int presence_stats(Session& s) {
    ppb::GetPresenceStatsRequest request;
    request.set_room_id(s.arg(0));
    const auto stub = ppb::Presence::NewStub(s.channel(Target::kPresence));
    return s.unary<ppb::GetPresenceStatsResponse>(
        Target::kPresence,
        [&](grpc::ClientContext* c, ppb::GetPresenceStatsResponse* r) {
            return stub->GetPresenceStats(c, request, r);
        },
        [](const ppb::GetPresenceStatsResponse& r) { return presence_stats_table(r); });
}

int presence_watch(Session& s) {
    ppb::WatchPresenceRequest request;
    request.set_room_id(s.arg(0));
    const auto channel = s.channel(Target::kPresence);
    // The stream has no deadline (it runs until Ctrl-C), so --timeout bounds connecting instead:
    // a wrong address fails in seconds rather than hanging silently.
    if (!channel->WaitForConnected(s.deadline())) {
        return s.failed({grpc::StatusCode::UNAVAILABLE,
                         "no connection to " + s.address(Target::kPresence) + " within --timeout"},
                        Target::kPresence);
    }
    const auto stub = ppb::Presence::NewStub(channel);
    grpc::ClientContext context;
    s.add_token(context);
    // Declared after the context so it is cleared before the context dies.
    std::optional<Cancellation::Registration> registration;
    if (s.io().cancellation != nullptr) {
        registration.emplace(s.io().cancellation, [&context] { context.TryCancel(); });
    }
    const auto reader = stub->WatchPresence(&context, request);
    ppb::PresenceEvent event;
    std::optional<Problem> unprintable;
    while (reader->Read(&event)) {
        if (s.line().global.json) {
            auto json = to_json(event);
            if (!json) {
                // Cancelled, then finished below: a call ends before its reader goes away.
                unprintable = std::move(json.error());
                context.TryCancel();
                break;
            }
            s.io().out << *json << '\n';
        } else {
            s.io().out << presence_event_line(event, s.io().now()) << '\n';
        }
        // Each event as it comes, also when stdout is a pipe.
        s.io().out.flush();
    }
    const grpc::Status status = reader->Finish();
    registration.reset();
    if (unprintable) {
        return s.problem(*unprintable);
    }
    if (s.io().cancellation != nullptr && s.io().cancellation->cancelled()) {
        // Ctrl-C is how a watch is meant to end.
        return kExitOk;
    }
    if (!status.ok()) {
        return s.failed(status, Target::kPresence);
    }
    return kExitOk;
}

std::unique_ptr<apb::Auth::Stub> auth_stub(Session& s) {
    return apb::Auth::NewStub(s.channel(Target::kAuth));
}

int token_issue(Session& s) {
    apb::IssueTokenRequest request;
    request.set_user_id(s.arg(0));
    request.set_name(s.line().value("name").value_or(""));
    if (const auto ttl = s.line().value("ttl")) {
        const auto parsed = parse_duration(*ttl);
        if (!parsed) {
            return s.usage("invalid --ttl: " + parsed.error().what);
        }
        if (parsed->count() % 1000 != 0) {
            return s.usage("invalid --ttl '" + *ttl + "': a token lives whole seconds");
        }
        request.set_ttl_seconds(parsed->count() / 1000);
    }
    const auto stub = auth_stub(s);
    // Only the token, so `TOKEN=$(roomcastctl token issue alice)` works; --json has the rest.
    return s.unary<apb::IssueTokenResponse>(
        Target::kAuth,
        [&](grpc::ClientContext* c, apb::IssueTokenResponse* r) {
            return stub->IssueToken(c, request, r);
        },
        [](const apb::IssueTokenResponse& r) { return r.token() + "\n"; });
}

int token_verify(Session& s) {
    apb::VerifyTokenRequest request;
    if (s.arg(0) == "-") {
        // Keeps the token out of argv (visible in ps) and shell history.
        auto token = read_capped(s.io().in, "stdin");
        if (!token) {
            return s.usage(token.error().what);
        }
        request.set_token(trim(*token));
    } else {
        request.set_token(s.arg(0));
    }
    const auto stub = auth_stub(s);
    return s.unary<apb::VerifyTokenResponse>(
        Target::kAuth,
        [&](grpc::ClientContext* c, apb::VerifyTokenResponse* r) {
            return stub->VerifyToken(c, request, r);
        },
        [](const apb::VerifyTokenResponse& r) { return verify_fields(r); });
}

int token_jwks(Session& s) {
    const apb::GetJwksRequest request;
    const auto stub = auth_stub(s);
    return s.unary<apb::GetJwksResponse>(
        Target::kAuth,
        [&](grpc::ClientContext* c, apb::GetJwksResponse* r) {
            return stub->GetJwks(c, request, r);
        },
        [](const apb::GetJwksResponse& r) {
            // A document we cannot tabulate is still worth seeing as the server sent it.
            const auto table = jwks_table(r.jwks_json());
            return table ? *table : r.jwks_json() + "\n";
        });
}

int keys_list(Session& s) {
    const apb::ListKeysRequest request;
    const auto stub = auth_stub(s);
    return s.unary<apb::ListKeysResponse>(
        Target::kAuth,
        [&](grpc::ClientContext* c, apb::ListKeysResponse* r) {
            return stub->ListKeys(c, request, r);
        },
        [](const apb::ListKeysResponse& r) { return keys_table(r); });
}

int keys_rotate(Session& s) {
    apb::RotateKeyRequest request;
    const std::string algorithm = s.line().value("algorithm").value_or("");
    if (!algorithm.empty() && algorithm != "ES256" && algorithm != "RS256") {
        return s.usage("invalid --algorithm '" + algorithm + "': ES256 or RS256");
    }
    request.set_algorithm(algorithm);
    request.set_kid(s.line().value("kid").value_or(""));
    const auto stub = auth_stub(s);
    return s.unary<apb::RotateKeyResponse>(
        Target::kAuth,
        [&](grpc::ClientContext* c, apb::RotateKeyResponse* r) {
            return stub->RotateKey(c, request, r);
        },
        [](const apb::RotateKeyResponse& r) {
            return "key " + r.kid() + " (" + r.algorithm() +
                   ") written; it signs once the JWKS holding it is published (see 'roomcastctl "
                   "keys list')\n";
        });
}

int grpc_list(Session& s) {
    if (const auto bad = s.require_given_address()) {
        return *bad;
    }
    ReflectionSession reflection(s.channel(Target::kGiven), s.deadline());
    const auto names = reflection.list_services();
    if (!names) {
        return s.failed(names.error(), Target::kGiven);
    }
    if (s.line().global.json) {
        boost::json::array services;
        for (const std::string& name : *names) {
            services.emplace_back(name);
        }
        s.io().out << protocol::to_json(boost::json::object{{"services", std::move(services)}})
                   << '\n';
        return kExitOk;
    }
    for (const std::string& name : *names) {
        s.io().out << name << '\n';
    }
    return kExitOk;
}

int grpc_describe(Session& s) {
    if (const auto bad = s.require_given_address()) {
        return *bad;
    }
    ReflectionSession reflection(s.channel(Target::kGiven), s.deadline());
    std::vector<std::string> symbols;
    const bool one = !s.line().args.empty();
    if (one) {
        symbols.push_back(s.arg(0));
    } else {
        auto names = reflection.list_services();
        if (!names) {
            return s.failed(names.error(), Target::kGiven);
        }
        symbols = std::move(*names);
    }
    boost::json::array described;
    std::string text;
    for (const std::string& symbol : symbols) {
        const auto description = reflection.describe(symbol);
        if (!description && !one &&
            description.error().error_code() == grpc::StatusCode::NOT_FOUND) {
            // A listed service without a descriptor: gRPC C++ lists its built-in
            // grpc.health.v1.Health but cannot describe it. The others are still worth printing.
            s.io().err << "note: " << symbol << " is listed but the server does not describe it ("
                       << description.error().error_message() << ")\n";
            continue;
        }
        if (!description) {
            return s.failed(description.error(), Target::kGiven);
        }
        if (s.line().global.json) {
            auto descriptor = protocol::parse_json(description->descriptor_json);
            if (!descriptor) {
                return s.problem(Problem{"cannot read the descriptor JSON of " + symbol});
            }
            described.push_back(boost::json::object{{"symbol", description->name},
                                                    {"kind", description->kind},
                                                    {"descriptor", std::move(*descriptor)}});
        } else {
            text += text.empty() ? "" : "\n";
            text += description->name + " is a " + description->kind + ":\n" + description->text;
        }
    }
    if (s.line().global.json) {
        s.io().out << protocol::to_json(one ? described.front()
                                            : boost::json::value(boost::json::object{
                                                  {"symbols", std::move(described)}}))
                   << '\n';
        return kExitOk;
    }
    s.io().out << text;
    return kExitOk;
}

// `context` commands: they read and write the config file and call no server.
class ContextCommands {
public:
    ContextCommands(const CommandLine& line, Io& io, std::string path,
                    std::optional<ConfigFile> config)
        : line_(line),
          io_(io),
          path_(std::move(path)),
          config_(std::move(config).value_or(ConfigFile{})) {}

    int run() {
        switch (line_.command->id) {
            case CommandId::kContextAdd:
                return add();
            case CommandId::kContextList:
                return list();
            case CommandId::kContextUse:
                return use();
            case CommandId::kContextShow:
                return show();
            case CommandId::kContextRemove:
                return remove();
            default:
                return usage("not a context command");
        }
    }

private:
    int usage(std::string_view message) const {
        io_.err << kProgram << ": " << line_.command_name() << ": " << message << "\nTry '"
                << line_.help_command() << "'.\n";
        return kExitUsage;
    }

    int fail(int code, std::string_view message) const {
        io_.err << kProgram << ": " << line_.command_name() << ": " << message << '\n';
        return code;
    }

    int save() {
        const auto saved = save_config(path_, config_);
        if (!saved) {
            return fail(kExitOther, saved.error().what);
        }
        return kExitOk;
    }

    // The named context, or the current one when `index` is past the arguments.
    const Context* find(std::size_t index, std::string& name) const {
        name = index < line_.args.size() ? line_.args[index] : config_.current;
        const auto it = config_.contexts.find(name);
        return it == config_.contexts.end() ? nullptr : &it->second;
    }

    int not_found(const std::string& name) const {
        if (name.empty()) {
            return fail(kExitNotFound, "no current context (roomcastctl context use NAME)");
        }
        return fail(kExitNotFound, "context '" + name + "' is not defined (in " + path_ + ")");
    }

    int add() {
        const std::string& name = line_.args.at(0);
        if (!valid_context_name(name)) {
            return usage("invalid context name '" + name +
                         "': 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)");
        }
        const auto& given = line_.given_globals;
        if (given.contains("admin-token")) {
            return usage(
                "a context never stores the admin token itself: put it in a file (chmod 600) and "
                "pass --admin-token-file FILE");
        }
        Context context;
        const auto text = [&given](std::string_view flag) {
            const auto it = given.find(flag);
            return it == given.end() ? std::string() : it->second;
        };
        // Files are stored absolute: the context is used from any directory.
        const auto file = [&text](std::string_view flag) {
            const std::string path = text(flag);
            if (path.empty()) {
                return path;
            }
            std::error_code ec;
            const auto absolute = std::filesystem::absolute(path, ec);
            return ec ? path : absolute.lexically_normal().string();
        };
        context.server = text("server");
        context.rooms_addr = text("rooms-addr");
        context.presence_addr = text("presence-addr");
        context.auth_addr = text("auth-addr");
        context.ca_file = file("ca");
        context.cert_file = file("cert");
        context.key_file = file("key");
        context.tls_server_name = text("tls-server-name");
        context.admin_token_file = file("admin-token-file");
        context.timeout = text("timeout");
        // The parser turned --ca and the like into TLS; a context stores what that means.
        context.tls = given.contains("tls") || !context.ca_file.empty() ||
                      !context.cert_file.empty() || !context.tls_server_name.empty();
        if (!context.server.empty() && server_address(context.server, "1").empty()) {
            return usage("invalid --server '" + context.server + "': expected HOST or HOST:PORT");
        }
        if (context.server.empty() && context.rooms_addr.empty() && context.presence_addr.empty() &&
            context.auth_addr.empty()) {
            return usage(
                "a context needs --server or at least one of --rooms-addr, "
                "--presence-addr, --auth-addr");
        }
        if (!config_.contexts.contains(name) && config_.contexts.size() >= kMaxContexts) {
            return fail(kExitLimit,
                        "already " + std::to_string(kMaxContexts) + " contexts; remove some first");
        }
        const bool replaced = config_.contexts.contains(name);
        config_.contexts.insert_or_assign(name, std::move(context));
        if (line_.has("select")) {
            config_.current = name;
        }
        if (const int code = save(); code != kExitOk) {
            return code;
        }
        io_.out << "context " << name << (replaced ? " replaced" : " saved") << " in " << path_
                << (line_.has("select") ? "; it is now current" : "") << '\n';
        return kExitOk;
    }

    int list() const {
        if (line_.has("names")) {
            for (const auto& [name, context] : config_.contexts) {
                io_.out << name << '\n';
            }
            return kExitOk;
        }
        if (line_.global.json) {
            boost::json::array contexts;
            for (const auto& [name, context] : config_.contexts) {
                contexts.push_back(context_json(name, context));
            }
            io_.out << protocol::to_json(boost::json::object{{"current_context", config_.current},
                                                             {"contexts", std::move(contexts)}})
                    << '\n';
            return kExitOk;
        }
        std::vector<std::vector<std::string>> rows = {{"", "NAME", "SERVER", "TLS"}};
        for (const auto& [name, context] : config_.contexts) {
            std::string server = context.server;
            if (server.empty()) {
                server = "(per service)";
            }
            rows.push_back(
                {name == config_.current ? "*" : "", name, server, context.tls ? "yes" : "no"});
        }
        io_.out << text_table(rows);
        return kExitOk;
    }

    int use() {
        std::string name;
        if (find(0, name) == nullptr) {
            return not_found(name);
        }
        config_.current = name;
        if (const int code = save(); code != kExitOk) {
            return code;
        }
        io_.out << "using context " << name << '\n';
        return kExitOk;
    }

    int show() const {
        std::string name;
        const Context* context = find(0, name);
        if (context == nullptr) {
            return not_found(name);
        }
        // The addresses the context alone resolves to (flags and variables can still override
        // them on a command line).
        const std::vector<std::string> probe = {"token", "jwks", "--context", name};
        const ParseOutcome outcome = parse_command_line(probe, Environment{}, &config_);
        const auto* resolved = std::get_if<CommandLine>(&outcome);
        if (resolved == nullptr) {
            const auto* error = std::get_if<UsageError>(&outcome);
            return fail(kExitUsage, error != nullptr ? error->message : "cannot resolve");
        }
        if (line_.global.json) {
            boost::json::object object = context_json(name, *context);
            object["current"] = name == config_.current;
            object["resolved"] = boost::json::object{{"rooms", resolved->global.rooms_addr},
                                                     {"presence", resolved->global.presence_addr},
                                                     {"auth", resolved->global.auth_addr}};
            io_.out << protocol::to_json(object) << '\n';
            return kExitOk;
        }
        std::ostringstream out;
        out << "name: " << name << (name == config_.current ? " (current)" : "") << '\n';
        const std::pair<std::string_view, const std::string*> fields[] = {
            {"server", &context->server},
            {"rooms_addr", &context->rooms_addr},
            {"presence_addr", &context->presence_addr},
            {"auth_addr", &context->auth_addr},
            {"ca", &context->ca_file},
            {"cert", &context->cert_file},
            {"key", &context->key_file},
            {"tls_server_name", &context->tls_server_name},
            {"admin_token_file", &context->admin_token_file},
            {"timeout", &context->timeout},
        };
        for (const auto& [key, value] : fields) {
            if (!value->empty()) {
                out << key << ": " << *value << '\n';
            }
        }
        out << "tls: " << (resolved->global.tls ? "yes" : "no") << '\n';
        out << "rooms: " << resolved->global.rooms_addr << '\n';
        out << "presence: " << resolved->global.presence_addr << '\n';
        out << "auth: " << resolved->global.auth_addr << '\n';
        io_.out << out.str();
        return kExitOk;
    }

    int remove() {
        std::string name;
        if (find(0, name) == nullptr) {
            return not_found(name);
        }
        config_.contexts.erase(name);
        if (config_.current == name) {
            config_.current.clear();
        }
        if (const int code = save(); code != kExitOk) {
            return code;
        }
        io_.out << "context " << name << " removed\n";
        return kExitOk;
    }

    static boost::json::object context_json(const std::string& name, const Context& context) {
        // The file's own encoding of one context, plus its name.
        ConfigFile one;
        one.contexts.emplace(name, context);
        auto parsed = protocol::parse_json(serialize_config(one));
        boost::json::object object{{"name", name}};
        if (parsed && parsed->is_object()) {
            for (const auto& [key, value] :
                 parsed->as_object().at("contexts").as_object().at(name).as_object()) {
                object[key] = value;
            }
        }
        return object;
    }

    // Aligned columns, two spaces apart.
    static std::string text_table(const std::vector<std::vector<std::string>>& rows) {
        std::vector<std::size_t> widths;
        for (const auto& row : rows) {
            widths.resize(std::max(widths.size(), row.size()));
            for (std::size_t i = 0; i < row.size(); ++i) {
                widths[i] = std::max(widths[i], row[i].size());
            }
        }
        std::string out;
        for (const auto& row : rows) {
            std::string line;
            for (std::size_t i = 0; i < row.size(); ++i) {
                line += row[i];
                if (i + 1 < row.size()) {
                    line.append(widths[i] - row[i].size() + 2, ' ');
                }
            }
            out += trim(line) == line ? line : line.substr(0, line.find_last_not_of(' ') + 1);
            out += '\n';
        }
        return out;
    }

    const CommandLine& line_;
    Io& io_;
    std::string path_;
    ConfigFile config_;
};

// Words joined by spaces, for the single-quoted word lists of the script (the table's command
// and flag names are plain identifiers: nothing to quote).
std::string shell_words(const std::vector<std::string>& words) {
    std::string out;
    for (const std::string& word : words) {
        out += out.empty() ? "" : " ";
        out += word;
    }
    return out;
}

// The completion script, generated from the same command table as --help, so a new command or
// flag completes without anyone editing a script. zsh runs it through bashcompinit.
std::string completion_script(bool zsh) {
    std::vector<std::string> groups;
    std::map<std::string, std::vector<const CommandSpec*>> by_group;
    for (const CommandSpec& spec : command_specs()) {
        auto& commands = by_group[std::string(spec.group)];
        if (commands.empty()) {
            groups.emplace_back(spec.group);
        }
        commands.push_back(&spec);
    }
    std::vector<std::string> globals = {"--help", "--version"};
    std::set<std::string> value_flags;
    for (const auto& [name, takes_value] : global_flag_names()) {
        globals.push_back("--" + std::string(name));
        if (takes_value) {
            value_flags.insert("--" + std::string(name));
        }
    }
    for (const CommandSpec& spec : command_specs()) {
        for (const FlagSpec& flag : spec.flags) {
            if (!flag.value_name.empty()) {
                value_flags.insert("--" + std::string(flag.name));
            }
        }
    }
    std::string out;
    if (zsh) {
        out += "#compdef roomcastctl\nautoload -U +X bashcompinit && bashcompinit\n";
    }
    out += "# roomcastctl completion, generated by `roomcastctl completion ";
    out += zsh ? "zsh" : "bash";
    out += "` from its command table.\n";
    out += "_roomcastctl() {\n";
    out += "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n";
    out += "    local globals='" + shell_words(globals) + "'\n";
    out += "    local value_flags=' " +
           shell_words(std::vector<std::string>(value_flags.begin(), value_flags.end())) + " '\n";
    out += "    local group='' cmd='' i w skip=0\n";
    out += "    for ((i = 1; i < COMP_CWORD; i++)); do\n";
    out += "        w=\"${COMP_WORDS[i]}\"\n";
    out += "        if ((skip)); then skip=0; continue; fi\n";
    out += "        case \"$w\" in\n";
    out += "            --*=*) ;;\n";
    out += "            --*) [[ \"$value_flags\" == *\" $w \"* ]] && skip=1 ;;\n";
    out +=
        "            *) if [[ -z $group ]]; then group=$w; elif [[ -z $cmd ]]; then cmd=$w; fi "
        ";;\n";
    out += "        esac\n";
    out += "    done\n";
    out += "    if [[ \"$value_flags\" == *\" $prev \"* ]]; then\n";
    out += "        case \"$prev\" in\n";
    out +=
        "            --context) COMPREPLY=($(compgen -W \"$(roomcastctl context list --names "
        "2>/dev/null)\" -- \"$cur\")) ;;\n";
    out +=
        "            --ca|--cert|--key|--admin-token-file|--data-file) COMPREPLY=($(compgen -f "
        "-- \"$cur\")) ;;\n";
    out += "            *) COMPREPLY=() ;;\n";
    out += "        esac\n";
    out += "        return\n";
    out += "    fi\n";
    out += "    local words=''\n";
    out += "    case \"$group\" in\n";
    out += "        '') words='" + shell_words(groups) + "' ;;\n";
    for (const std::string& group : groups) {
        std::vector<std::string> names;
        for (const CommandSpec* spec : by_group[group]) {
            names.emplace_back(spec->name);
        }
        out += "        " + group + ")\n";
        out += "            case \"$cmd\" in\n";
        out += "                '') words='" + shell_words(names) + "' ;;\n";
        for (const CommandSpec* spec : by_group[group]) {
            std::vector<std::string> flags;
            for (const FlagSpec& flag : spec->flags) {
                flags.push_back("--" + std::string(flag.name));
            }
            out += "                " + std::string(spec->name) + ") words='" + shell_words(flags) +
                   "' ;;\n";
        }
        out += "            esac ;;\n";
    }
    out += "    esac\n";
    out +=
        "    if [[ \"$group\" == context && \"$cmd\" =~ ^(use|show|remove)$ && $cur != -* ]]; "
        "then\n";
    out += "        words=\"$words $(roomcastctl context list --names 2>/dev/null)\"\n";
    out += "    fi\n";
    out += "    [[ $cur == -* ]] && words=\"$words $globals\"\n";
    out += "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n";
    out += "}\n";
    out += "complete -o default -F _roomcastctl roomcastctl\n";
    return out;
}

int dispatch(Session& s) {
    switch (s.line().command->id) {
        case CommandId::kRoomsCreate:
            return rooms_create(s);
        case CommandId::kRoomsGet:
            return rooms_get(s);
        case CommandId::kRoomsList:
            return rooms_list(s);
        case CommandId::kRoomsUpdate:
            return rooms_update(s);
        case CommandId::kRoomsDelete:
            return rooms_delete(s);
        case CommandId::kRoomsMembers:
            return rooms_members(s);
        case CommandId::kRoomsAdd:
            return rooms_add(s);
        case CommandId::kRoomsRemove:
            return rooms_remove(s);
        case CommandId::kRoomsKick:
            return rooms_kick(s);
        case CommandId::kRoomsPublish:
            return rooms_publish(s);
        case CommandId::kRoomsHistory:
            return rooms_history(s);
        case CommandId::kUsersDisconnect:
            return users_disconnect(s);
        case CommandId::kUsersEmit:
            return users_emit(s);
        case CommandId::kPresenceGet:
            return presence_get(s);
        case CommandId::kPresenceStats:
            return presence_stats(s);
        case CommandId::kPresenceWatch:
            return presence_watch(s);
        case CommandId::kEdgesList:
            return edges_list(s);
        case CommandId::kTokenIssue:
            return token_issue(s);
        case CommandId::kTokenVerify:
            return token_verify(s);
        case CommandId::kTokenJwks:
            return token_jwks(s);
        case CommandId::kKeysList:
            return keys_list(s);
        case CommandId::kKeysRotate:
            return keys_rotate(s);
        case CommandId::kGrpcList:
            return grpc_list(s);
        case CommandId::kGrpcDescribe:
            return grpc_describe(s);
        case CommandId::kContextAdd:
        case CommandId::kContextList:
        case CommandId::kContextUse:
        case CommandId::kContextShow:
        case CommandId::kContextRemove:
        case CommandId::kCompletion:
            break;  // run() answers these without a server
    }
    return s.usage("command not implemented");
}

}  // namespace

int run(std::span<const std::string> args, const Environment& env, Io& io) {
    // The config file is read before parsing (a context fills in what flags and variables do
    // not); a broken one is reported after --help had its chance.
    const std::string path = config_path(env);
    std::optional<ConfigFile> config;
    std::optional<Problem> config_problem;
    if (!path.empty()) {
        const auto chosen = env.find("ROOMCAST_CONFIG");
        auto loaded = load_config(path, chosen != env.end() && !chosen->second.empty());
        if (loaded) {
            config = std::move(*loaded);
        } else {
            config_problem = std::move(loaded.error());
        }
    }
    const ParseOutcome outcome = parse_command_line(args, env, config ? &*config : nullptr);
    if (const auto* text = std::get_if<ShowText>(&outcome)) {
        io.out << text->text;
        io.out.flush();
        return kExitOk;
    }
    if (config_problem) {
        io.err << kProgram << ": " << config_problem->what
               << "\n(fix or move the file; ROOMCAST_CONFIG selects another)\n";
        return kExitUsage;
    }
    if (const auto* error = std::get_if<UsageError>(&outcome)) {
        io.err << kProgram << ": " << error->message << "\nTry '" << error->help_command << "'.\n";
        return kExitUsage;
    }
    CommandLine line = std::get<CommandLine>(outcome);
    if (line.command->id == CommandId::kCompletion) {
        io.out << completion_script(line.command->name == "zsh");
        io.out.flush();
        return kExitOk;
    }
    if (line.command->group == "context") {
        if (path.empty()) {
            io.err << kProgram << ": no config file: set ROOMCAST_CONFIG (or HOME)\n";
            return kExitUsage;
        }
        return ContextCommands(line, io, path, std::move(config)).run();
    }
    if (line.global.admin_token.empty() && !line.global.admin_token_file.empty()) {
        auto token = read_token_file(line.global.admin_token_file);
        if (!token) {
            io.err << kProgram << ": " << token.error().what << "\nTry '" << kProgram
                   << " --help'.\n";
            return kExitUsage;
        }
        line.global.admin_token = std::move(*token);
    }
    // The TLS files are read once, before any call: a missing CA is a usage error, not an
    // UNAVAILABLE from every server.
    const GlobalOptions& global = line.global;
    auto channel = grpcutil::client_channel({.enabled = global.tls,
                                             .ca_file = global.ca_file,
                                             .cert_file = global.cert_file,
                                             .key_file = global.key_file,
                                             .server_name = global.tls_server_name});
    if (!channel) {
        io.err << kProgram << ": " << channel.error() << "\nTry '" << kProgram << " --help'.\n";
        return kExitUsage;
    }
    Session session(line, io, std::move(*channel));
    return dispatch(session);
}

}  // namespace roomcast::ctl
