// ThreadSanitizer defaults of presence_service_test (only in -DROOMCAST_TSAN=ON builds).
//
// gRPC, absl and protobuf come from the distribution, uninstrumented. TSan therefore sees the
// memory gRPC hands between its threads (calls, tags, messages, the registered service) but
// not the synchronization inside libgrpc that orders those hand-offs, and reports each of them.
// What is silenced here is exactly that, and nothing of ours:
// - ignore_noninstrumented_modules: accesses made by interceptors (memcpy, malloc, ...) called
//   from uninstrumented libraries are not recorded.
// - history_size=7: the longest access history, so TSan can name both sides of a report (and
//   match them against the suppressions below) instead of losing the older one.
// - race: gRPC functions that never call back into user code (call ops, interceptor batches,
//   byte buffers, metadata, status objects, tag bookkeeping), gRPC's allocator, and the
//   construction of a service object before server start publishes it to gRPC's threads.
// - race_top: protobuf and gRPC's handler glue only when the racing access itself is theirs.
// Our reactor states gRPC's ordering with __tsan_release/__tsan_acquire instead
// (presence_grpc.cpp), so races inside our reactions remain reported.
#if defined(__SANITIZE_THREAD__)

extern "C" const char* __tsan_default_options() {
    return "ignore_noninstrumented_modules=1:history_size=7";
}

extern "C" const char* __tsan_default_suppressions() {
    return
        // gRPC call machinery (header code, instrumented; its ordering is in libgrpc).
        "race:grpc::internal::CallOpSet\n"
        "race:grpc::internal::CallOpSendInitialMetadata\n"
        "race:grpc::internal::CallOpSendMessage\n"
        "race:grpc::internal::CallOpServerSendStatus\n"
        "race:grpc::internal::CallOpRecvMessage\n"
        "race:grpc::internal::CallOpRecvInitialMetadata\n"
        "race:grpc::internal::CallOpClientRecvStatus\n"
        "race:grpc::internal::CallOpClientSendClose\n"
        "race:grpc::internal::CallNoOp\n"
        "race:grpc::internal::CallOpSetInterface\n"
        "race:grpc::internal::CompletionQueueTag\n"
        "race:grpc::internal::InterceptorBatchMethodsImpl\n"
        "race:grpc::experimental::InterceptorBatchMethods\n"
        "race:grpc::internal::Call::\n"
        "race:grpc::internal::CallbackWithSuccessTag::Set\n"
        "race:grpc::internal::CallbackWithSuccessTag::Clear\n"
        "race:grpc::internal::CallbackWithSuccessTag::CallbackWithSuccessTag\n"
        "race:grpc::internal::CallbackWithSuccessTag::~CallbackWithSuccessTag\n"
        "race:grpc::internal::MetadataMap\n"
        "race:grpc::ByteBuffer\n"
        "race:grpc::Status::\n"
        "race:grpc::ServerContextBase::\n"
        // DefaultReactor (gRPC's own unary reactor) and the per-call objects gRPC creates.
        "race:grpc::ServerUnaryReactor::\n"
        "race:grpc::internal::ServerReactor::ServerReactor\n"
        "race:ServerCallbackUnaryImpl\n"
        "race:ServerCallbackWriterImpl::ServerCallbackWriterImpl\n"
        "race:ServerCallbackWriterImpl::~ServerCallbackWriterImpl\n"
        "race:InternalBindWriter\n"
        "race:grpc::ProtoBufferReader\n"
        "race:grpc::ProtoBufferWriter\n"
        "race:grpc::GenericSerialize\n"
        "race:grpc::GenericDeserialize\n"
        // Objects allocated by gRPC's allocator and handed between its threads.
        "race:gpr_malloc\n"
        "race:gpr_realloc\n"
        // A service is built on the main thread and published to gRPC's threads by start().
        "race:grpc::Service::Service\n"
        "race:roomcast::presence::v1::Presence::WithCallbackMethod_\n"
        "race:roomcast::presence::PresenceGrpc::PresenceGrpc\n"
        // The racing access itself inside protobuf or gRPC's handler glue.
        "race_top:google::protobuf::\n"
        "race_top:grpc::internal::CallbackUnaryHandler\n"
        "race_top:grpc::internal::CallbackServerStreamingHandler\n"
        "race_top:grpc::internal::CatchingCallback\n";
}

#endif
