// millrace/time/detail/wheel_chunks.hpp: the timing wheel's slot entries, the chunks that
// hold them, and the chunk pool with its compaction step.
//
// A slot is a list of 512-byte chunks of 16-byte entries (expiry, node index, stamp), so a
// cascade streams through entries sequentially and never touches a node. Chunks come from
// blocks of 64 that are never freed before the pool; free chunks are a stack of pointers
// rather than an intrusive list, so taking one never waits for a cache miss on the chunk
// itself (at a million timers the free chunks are cold, and that miss was half the cost of
// insert). The stack's capacity always covers every chunk, so releasing never allocates.
// Not thread-safe: it belongs to one timing_wheel.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "millrace/core/config.hpp"

namespace millrace::detail {

/// One timer's place in a slot, the due list or the far heap; stale once the node's stamp moves.
struct wheel_entry {
    std::uint64_t expiry;
    std::uint32_t index;  // node in the pool
    std::uint32_t stamp;  // the node's stamp when this entry was made
};
static_assert(sizeof(wheel_entry) == 16);

inline constexpr std::size_t wheel_chunk_bytes = 512;
inline constexpr std::size_t wheel_chunk_entries = (wheel_chunk_bytes - 16) / sizeof(wheel_entry);  // 31

/// A run of entries of one slot.
struct wheel_chunk {
    wheel_chunk* next;
    std::uint32_t count;
    wheel_entry e[wheel_chunk_entries];
};
static_assert(sizeof(wheel_chunk) <= wheel_chunk_bytes);

/// A slot: a singly linked list of chunks, appended at the tail.
struct wheel_slot_list {
    wheel_chunk* head = nullptr;
    wheel_chunk* tail = nullptr;
};

/// The chunk allocator of one timing wheel.
class wheel_chunk_pool {
public:
    static constexpr std::size_t chunks_per_block = 64;  // 32 KiB

    void swap(wheel_chunk_pool& o) noexcept {
        using std::swap;
        swap(blocks_, o.blocks_);
        swap(free_, o.free_);
    }

    /// Adds one block of free chunks. Throws std::bad_alloc (nothing changes then).
    void grow() {
        const std::size_t total = (blocks_.size() + 1) * chunks_per_block;
        if (free_.capacity() < total) free_.reserve(std::max(total, 2 * free_.capacity()));
        blocks_.reserve(blocks_.size() + 1);
        auto block = std::make_unique<wheel_chunk[]>(chunks_per_block);  // the last thing that may throw
        wheel_chunk* base = block.get();
        blocks_.push_back(std::move(block));
        for (std::size_t i = chunks_per_block; i-- > 0;)
            free_.push_back(base + i);  // lowest on top
    }

    void release(wheel_chunk* c) noexcept { free_.push_back(c); }  // capacity covers it

    /// Every chunk free again, handed out in address order (sequential for the prefetcher).
    void reset() noexcept {
        free_.clear();
        for (std::size_t b = blocks_.size(); b-- > 0;)
            for (std::size_t i = chunks_per_block; i-- > 0;)
                free_.push_back(blocks_[b].get() + i);
    }

    /// An empty chunk: there must be one (free_count() > 0).
    wheel_chunk* take() noexcept {
        wheel_chunk* c = free_.back();
        free_.pop_back();
        if (!free_.empty()) MILLRACE_PREFETCH(free_.back(), 1);  // the next one, for writing
        c->next = nullptr;
        c->count = 0;
        return c;
    }

    std::size_t free_count() const noexcept { return free_.size(); }
    std::size_t total() const noexcept { return blocks_.size() * chunks_per_block; }

    /// Keeps the entries of a chain, from entry `from` of `first` on, for which keep(entry)
    /// holds, in order, packed from that same position; frees the chunks left empty after
    /// the last kept entry (never `first`) and returns the new last chunk.
    template <class Keep>
    wheel_chunk* compact_chain(wheel_chunk* first, std::uint32_t from, Keep keep) noexcept {
        wheel_chunk* wc = first;
        std::uint32_t wi = from;
        for (wheel_chunk* c = first; c != nullptr; c = c->next) {
            // The writer never passes the reader: it writes at most what was read.
            for (std::uint32_t i = (c == first ? from : 0); i < c->count; ++i) {
                const wheel_entry en = c->e[i];
                if (!keep(en)) continue;
                if (wi == wheel_chunk_entries) {
                    wc->count = wheel_chunk_entries;  // the reader has left wc
                    wc = wc->next;
                    wi = 0;
                }
                wc->e[wi++] = en;
            }
        }
        wheel_chunk* rest = wc->next;
        wc->count = wi;
        wc->next = nullptr;
        while (rest != nullptr) {
            wheel_chunk* next = rest->next;
            release(rest);
            rest = next;
        }
        return wc;
    }

private:
    std::vector<std::unique_ptr<wheel_chunk[]>> blocks_;
    std::vector<wheel_chunk*> free_;
};

}  // namespace millrace::detail
