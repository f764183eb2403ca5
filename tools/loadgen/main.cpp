// roomcast_loadgen: composition only (see README.md for the scenarios and the output).
#include "options.hpp"
#include "runner.hpp"

#include "roomcast/protocol/json.hpp"

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

extern char** environ;

int main(int argc, char** argv) {
    using roomcast::loadgen::ParseOutcome;
    // A peer that resets a connection must not kill the process through SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    const ParseOutcome parsed = roomcast::loadgen::parse_options(argc, argv, environ);
    if (parsed.kind == ParseOutcome::Kind::kHelp) {
        std::fputs(roomcast::loadgen::help_text().c_str(), stdout);
        return 0;
    }
    if (parsed.kind == ParseOutcome::Kind::kError) {
        std::fprintf(stderr, "roomcast_loadgen: %s\nTry 'roomcast_loadgen --help'.\n",
                     parsed.error.c_str());
        return 2;
    }
    const auto& options = parsed.options;
    if (options.jwt_secret.empty() && !options.no_auth) {
        std::fprintf(stderr,
                     "roomcast_loadgen: no --jwt-secret: CONNECT carries {} (as with --no-auth)\n");
    }
    try {
        const auto result = roomcast::loadgen::run(options, &std::cerr);
        const std::string text = roomcast::protocol::to_json(result.to_json());
        if (options.json) {
            std::cout << text << std::endl;
        } else {
            std::cerr << text << std::endl;
        }
        return result.exit_code();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "roomcast_loadgen: %s\n", e.what());
        return 2;
    }
}
