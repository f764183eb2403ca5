#pragma once
// A gRPC server reflection client: lists a server's services and describes its symbols from the
// FileDescriptorProtos the server returns, as `grpcurl list` / `grpcurl describe` do.
//
// Thread-compatible: one session per command, used from one thread. The session is one
// ServerReflectionInfo stream; every exchange waits at most until the deadline given at
// construction.

#include <google/protobuf/descriptor_database.h>
#include <grpcpp/grpcpp.h>
#include <boost/system/result.hpp>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::ctl {

// The method every reflection exchange goes through.
inline constexpr std::string_view kReflectionMethod =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

template <class T>
using RpcResult = boost::system::result<T, grpc::Status>;

struct SymbolDescription {
    std::string name;  // fully qualified, without a leading dot
    std::string kind;  // "service", "method", "message" or "enum"
    // The definition in .proto syntax.
    std::string text;
    // The matching google.protobuf.*DescriptorProto, as JSON (proto field names).
    std::string descriptor_json;
};

class ReflectionSession {
public:
    ReflectionSession(const std::shared_ptr<grpc::Channel>& channel,
                      std::chrono::system_clock::time_point deadline);
    ~ReflectionSession();
    ReflectionSession(const ReflectionSession&) = delete;
    ReflectionSession& operator=(const ReflectionSession&) = delete;

    // The full names of the server's services, sorted.
    RpcResult<std::vector<std::string>> list_services();
    // NOT_FOUND when the server does not know the symbol; INVALID_ARGUMENT when it is a field
    // or something else that is not a service, method, message or enum.
    RpcResult<SymbolDescription> describe(std::string_view symbol);

private:
    class Stream;

    // Adds the files of a file_descriptor_response to files_, then fetches any import still
    // missing by name (servers usually send imports along, but need not).
    grpc::Status load_symbol(std::string_view symbol);
    grpc::Status add_files(const std::vector<std::string>& serialized);

    std::unique_ptr<Stream> stream_;
    google::protobuf::SimpleDescriptorDatabase files_;
    std::set<std::string> file_names_;
};

}  // namespace roomcast::ctl
