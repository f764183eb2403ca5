#pragma once
// Errors of the auth service's logic, as values. The gRPC adapter maps them to grpc::Status in
// one place (to_status in grpc_service.hpp); start-up code prints their message and exits.

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <string>

namespace roomcast::auth {

struct Error {
    enum class Code {
        kInvalidArgument,     // the caller's request is wrong
        kFailedPrecondition,  // the configuration (key directory, active key) is unusable
        kInternal,            // a key that loaded but cannot sign: a bug or a broken library
    };
    Code code = Code::kInternal;
    std::string message;
};

// Found by boost::system::result through ADL when value() is called on an error.
[[noreturn]] void throw_exception_from_error(const Error& error, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

inline Error invalid_argument(std::string message) {
    return {Error::Code::kInvalidArgument, std::move(message)};
}
inline Error failed_precondition(std::string message) {
    return {Error::Code::kFailedPrecondition, std::move(message)};
}

}  // namespace roomcast::auth
