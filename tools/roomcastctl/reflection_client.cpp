// Server reflection over one bidirectional stream, driven synchronously through a completion
// queue; the contract is in reflection_client.hpp.
#include "reflection_client.hpp"

#include "format.hpp"
#include "reflection.pb.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/generic/generic_stub.h>
// SerializationTraits for protobuf messages, which the generic stub needs to send ours.
#include <grpcpp/impl/codegen/proto_utils.h>

#include <algorithm>

namespace roomcast::ctl {
namespace {

namespace pb = google::protobuf;
using Request = reflection::v1alpha::ServerReflectionRequest;
using Response = reflection::v1alpha::ServerReflectionResponse;

// Files one describe may pull in: a misbehaving server cannot make us fetch forever.
constexpr std::size_t kMaxFiles = 256;

grpc::Status unexpected(std::string_view what) {
    return {grpc::StatusCode::INTERNAL, "unexpected reflection response: " + std::string(what)};
}

template <class Proto, class Descriptor>
Checked<std::string> descriptor_json(const Descriptor& descriptor) {
    Proto proto;
    descriptor.CopyTo(&proto);
    return to_json(proto);
}

}  // namespace

// One ServerReflectionInfo call. Exactly one operation is in flight at a time, so the completion
// queue's tags need no bookkeeping: the next event is always the one just started.
class ReflectionSession::Stream {
public:
    Stream(const std::shared_ptr<grpc::Channel>& channel,
           std::chrono::system_clock::time_point deadline)
        : stub_(channel) {
        context_.set_deadline(deadline);
    }

    ~Stream() {
        if (call_ && !finished_) {
            // Cancelling rather than half-closing: the destructor must not depend on the server
            // finishing its side.
            context_.TryCancel();
            finish();
        }
        cq_.Shutdown();
        void* tag = nullptr;
        bool ok = false;
        while (cq_.Next(&tag, &ok)) {
        }
    }

    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Sends one request and reads its response; after a failure, the call's final status.
    grpc::Status exchange(const Request& request, Response* response) {
        if (finished_) {
            return status_;
        }
        if (!call_) {
            call_ = stub_.PrepareCall(&context_, std::string(kReflectionMethod), &cq_);
            if (!call_) {
                finished_ = true;
                status_ = {grpc::StatusCode::INTERNAL, "cannot start the reflection call"};
                return status_;
            }
            call_->StartCall(this);
            if (!await()) {
                return finish();
            }
        }
        call_->Write(request, this);
        if (!await()) {
            return finish();
        }
        call_->Read(response, this);
        if (!await()) {
            return finish();
        }
        return grpc::Status::OK;
    }

private:
    bool await() {
        void* tag = nullptr;
        bool ok = false;
        return cq_.Next(&tag, &ok) && ok;
    }

    grpc::Status finish() {
        finished_ = true;
        call_->Finish(&status_, this);
        await();
        if (status_.ok()) {
            // The server closed the stream without answering: not an error code it chose.
            status_ = {grpc::StatusCode::UNKNOWN, "the server ended the reflection stream early"};
        }
        return status_;
    }

    grpc::TemplatedGenericStub<Request, Response> stub_;
    grpc::ClientContext context_;
    grpc::CompletionQueue cq_;
    std::unique_ptr<grpc::ClientAsyncReaderWriter<Request, Response>> call_;
    grpc::Status status_;
    bool finished_ = false;
};

ReflectionSession::ReflectionSession(const std::shared_ptr<grpc::Channel>& channel,
                                     std::chrono::system_clock::time_point deadline)
    : stream_(std::make_unique<Stream>(channel, deadline)) {}

ReflectionSession::~ReflectionSession() = default;

RpcResult<std::vector<std::string>> ReflectionSession::list_services() {
    Request request;
    request.set_list_services("*");
    Response response;
    if (auto status = stream_->exchange(request, &response); !status.ok()) {
        return status;
    }
    if (response.has_error_response()) {
        return grpc::Status(static_cast<grpc::StatusCode>(response.error_response().error_code()),
                            response.error_response().error_message());
    }
    if (!response.has_list_services_response()) {
        return unexpected("no list_services_response");
    }
    std::vector<std::string> names;
    for (const auto& service : response.list_services_response().service()) {
        names.push_back(service.name());
    }
    std::sort(names.begin(), names.end());
    return names;
}

grpc::Status ReflectionSession::add_files(const std::vector<std::string>& serialized) {
    std::vector<std::string> imports;
    for (const std::string& bytes : serialized) {
        pb::FileDescriptorProto file;
        if (!file.ParseFromString(bytes)) {
            return unexpected("a file_descriptor_proto does not parse");
        }
        if (file_names_.contains(file.name())) {
            continue;
        }
        if (file_names_.size() >= kMaxFiles) {
            return unexpected("more than " + std::to_string(kMaxFiles) + " files");
        }
        if (!files_.Add(file)) {
            return unexpected("file " + file.name() + " conflicts with another file");
        }
        file_names_.insert(file.name());
        imports.insert(imports.end(), file.dependency().begin(), file.dependency().end());
    }
    for (const std::string& name : imports) {
        if (file_names_.contains(name)) {
            continue;
        }
        Request request;
        request.set_file_by_filename(name);
        Response response;
        if (auto status = stream_->exchange(request, &response); !status.ok()) {
            return status;
        }
        if (response.has_error_response()) {
            return grpc::Status(
                static_cast<grpc::StatusCode>(response.error_response().error_code()),
                "import " + name + ": " + response.error_response().error_message());
        }
        const auto& files = response.file_descriptor_response().file_descriptor_proto();
        if (auto status = add_files({files.begin(), files.end()}); !status.ok()) {
            return status;
        }
    }
    return grpc::Status::OK;
}

grpc::Status ReflectionSession::load_symbol(std::string_view symbol) {
    pb::FileDescriptorProto cached;
    if (files_.FindFileContainingSymbol(std::string(symbol), &cached)) {
        return grpc::Status::OK;
    }
    Request request;
    request.set_file_containing_symbol(std::string(symbol));
    Response response;
    if (auto status = stream_->exchange(request, &response); !status.ok()) {
        return status;
    }
    if (response.has_error_response()) {
        return grpc::Status(static_cast<grpc::StatusCode>(response.error_response().error_code()),
                            response.error_response().error_message());
    }
    if (!response.has_file_descriptor_response()) {
        return unexpected("no file_descriptor_response");
    }
    const auto& files = response.file_descriptor_response().file_descriptor_proto();
    return add_files({files.begin(), files.end()});
}

RpcResult<SymbolDescription> ReflectionSession::describe(std::string_view symbol) {
    if (symbol.starts_with('.')) {
        symbol.remove_prefix(1);
    }
    if (auto status = load_symbol(symbol); !status.ok()) {
        return status;
    }
    // A fresh pool per lookup: a pool must not outlive changes to its database, and files_
    // grows with every describe.
    const pb::DescriptorPool pool(&files_);
    const std::string name(symbol);
    SymbolDescription out;
    out.name = name;
    Checked<std::string> json = ok(std::string());
    if (const auto* service = pool.FindServiceByName(name)) {
        out.kind = "service";
        out.text = service->DebugString();
        json = descriptor_json<pb::ServiceDescriptorProto>(*service);
    } else if (const auto* method = pool.FindMethodByName(name)) {
        out.kind = "method";
        out.text = method->DebugString();
        json = descriptor_json<pb::MethodDescriptorProto>(*method);
    } else if (const auto* message = pool.FindMessageTypeByName(name)) {
        out.kind = "message";
        out.text = message->DebugString();
        json = descriptor_json<pb::DescriptorProto>(*message);
    } else if (const auto* enumeration = pool.FindEnumTypeByName(name)) {
        out.kind = "enum";
        out.text = enumeration->DebugString();
        json = descriptor_json<pb::EnumDescriptorProto>(*enumeration);
    } else {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            name +
                                " is not a service, method, message or enum (or its file "
                                "does not build from the server's descriptors)");
    }
    if (!json) {
        return grpc::Status(grpc::StatusCode::INTERNAL, json.error().what);
    }
    out.descriptor_json = std::move(*json);
    return out;
}

}  // namespace roomcast::ctl
