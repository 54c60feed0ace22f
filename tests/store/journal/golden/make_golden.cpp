// journal_make_golden <out-dir>: writes a golden journal into <out-dir>/journal and the
// dump its jobs must open to into <out-dir>/expected.txt (see golden_workload.hpp). The
// dump comes from opening a copy, so the golden files stay as the workload left them.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "store/journal/golden/golden_workload.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: journal_make_golden <out-dir>\n");
        return 2;
    }
    const std::filesystem::path out = argv[1];
    millrace::test::golden::write((out / "journal").string());
    const std::filesystem::path copy = out / "journal.open-copy";
    std::filesystem::copy(out / "journal", copy);
    {
        millrace::basic_journal_store<millrace::posix_io> s(copy.string());
        std::ofstream(out / "expected.txt") << millrace::test::golden::dump(s);
    }
    std::filesystem::remove_all(copy);
    return 0;
}
