// Fuzzes journal_store recovery: arbitrary bytes as a segment file (on the in-memory disk
// of tests/store/journal/fault_io.hpp) must never crash, hang or trip a sanitizer. Opening either
// throws millrace::storage_error or yields a working store; with `repair` it must always
// open (what cannot be read is dropped and reported); an opened store must accept a write, and a clean reopen must show the same jobs.
// The first input byte picks the layout: the bytes alone (header included), or the bytes
// after a valid header, so that most inputs reach the record parser.
#include <millrace/store/journal_store.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "../tests/store/journal/fault_io.hpp"

namespace {

using store = millrace::basic_journal_store<millrace::test::fault_io>;

std::vector<millrace::job_record> dump(store& s) {
    std::vector<millrace::job_record> v;
    // list() needs a queue name: collect names from find() over the ids seen.
    for (millrace::job_id id = 1; id < 64; ++id)
        if (auto r = s.find(id)) v.push_back(*r);
    return v;
}

void check(const std::vector<unsigned char>& file, bool repair) {
    millrace::test::fault_io io;
    io.disk->write_file("/j/segment-0000000000000001.log", file);
    millrace::journal_options o;
    o.repair = repair;
    o.mode = millrace::durability::none;
    std::vector<millrace::job_record> before;
    try {
        store s("/j", o, io);
        millrace::job_record r;
        r.queue = "q";
        const auto res = s.enqueue(r);
        if (!s.find(res.id)) std::abort();
        before = dump(s);
    } catch (const millrace::storage_error&) {
        if (repair) std::abort();  // repair must always open (it drops what it cannot read)
        return;  // refused: corruption reported, never a crash
    }
    o.repair = false;  // after a successful open (repair rewrote it), it opens clean
    store s("/j", o, io);
    if (dump(s) != before) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::vector<unsigned char> file;
    if (data[0] & 1) {
        file.resize(millrace::detail::journal::header_size);
        millrace::detail::journal::encode_header(
            millrace::detail::journal::segment_header{millrace::detail::journal::format_version,
                                                      millrace::detail::journal::flag_base, 1},
            file.data());
    }
    file.insert(file.end(), data + 1, data + size);
    check(file, (data[0] & 2) != 0);
    return 0;
}
