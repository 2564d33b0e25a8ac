// SHA-256 (FIPS 180-4), for plan and source hashes. Written here rather than
// linking OpenSSL's libcrypto for one function: the plan format must not
// change with a library's build options, and this is 80 lines.
#pragma once

#include <string>
#include <string_view>

namespace trix {

/// Lower-case hex SHA-256 of the bytes.
std::string Sha256Hex(std::string_view data);

}  // namespace trix
