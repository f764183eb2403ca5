// Each command: check its flags, build the request, call, print. The contract is in cli.hpp.
#include "cli.hpp"

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
#include <fstream>
#include <istream>
#include <iterator>
#include <map>
#include <optional>
#include <ostream>

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

    int failed(const grpc::Status& status, Target target) const {
        io_.err << kProgram << ": " << line_.command->method << ": "
                << code_name(status.error_code());
        if (!status.error_message().empty()) {
            io_.err << ": " << status.error_message();
        }
        io_.err << '\n';
        const std::string addr = address(target);
        switch (status.error_code()) {
            case grpc::StatusCode::UNAUTHENTICATED:
                if (line_.global.admin_token.empty()) {
                    io_.err << "hint: no admin token was given: set ROOMCAST_ADMIN_TOKEN or pass "
                               "--admin-token\n";
                }
                break;
            case grpc::StatusCode::UNAVAILABLE:
                if (target == Target::kGiven) {
                    io_.err << "hint: is a gRPC server listening at " << addr << "?\n";
                } else {
                    const std::string flag = std::string(target_name(target)) + "-addr";
                    io_.err << "hint: is the " << target_name(target) << " service running at "
                            << addr << "? (--" << flag << ", " << core::Config::env_name(flag)
                            << ")\n";
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
        io_.err << kProgram << ": " << line_.command->method << ": " << problem.what << '\n';
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

int rooms_list(Session& s) {
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
        case CommandId::kTokenIssue:
            return token_issue(s);
        case CommandId::kTokenVerify:
            return token_verify(s);
        case CommandId::kTokenJwks:
            return token_jwks(s);
        case CommandId::kGrpcList:
            return grpc_list(s);
        case CommandId::kGrpcDescribe:
            return grpc_describe(s);
    }
    return s.usage("command not implemented");
}

}  // namespace

int run(std::span<const std::string> args, const Environment& env, Io& io) {
    const ParseOutcome outcome = parse_command_line(args, env);
    if (const auto* text = std::get_if<ShowText>(&outcome)) {
        io.out << text->text;
        io.out.flush();
        return kExitOk;
    }
    if (const auto* error = std::get_if<UsageError>(&outcome)) {
        io.err << kProgram << ": " << error->message << "\nTry '" << error->help_command << "'.\n";
        return kExitUsage;
    }
    const CommandLine& line = std::get<CommandLine>(outcome);
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
