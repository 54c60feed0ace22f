// millrace/store/detail/id_map.hpp: a flat hash map from job id to slab slot, for job_index.
//
// Open addressing with linear probing and backward-shift deletion (no tombstones: Knuth,
// TAOCP vol. 3, 6.4, Algorithm R), load factor at most 1/2. The home cell of an id is
// (id >> shift) & mask, shift the log2 of the index's id stride: ids are assigned in
// sequence, so consecutive jobs sit in consecutive cells (enqueue, claim and complete walk
// the table almost sequentially, which a scrambling hash would turn into a cache miss per
// lookup). Ids are not attacker-chosen (the store assigns them), so no scrambling is needed
// for balance; a run of unusual ids only lengthens probes. Compared with std::unordered_map it allocates
// nothing per insert and a lookup reads one or two adjacent cells instead of chasing a node pointer. Id 0
// marks an empty cell (job ids are never 0). The table doubles when it fills past one half: a cold moment,
// O(n), the only allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace millrace::detail {

class id_map {
public:
    static constexpr std::uint32_t npos = ~std::uint32_t{0};

    /// `stride`: the spacing of the ids the index assigns (its id_stride).
    explicit id_map(std::uint64_t stride = 1) {
        while ((std::uint64_t{2} << id_shift_) <= stride)
            ++id_shift_;
        rehash(16);
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    /// The slot of `id`, or npos.
    [[nodiscard]] std::uint32_t find(std::uint64_t id) const noexcept {
        if (id == 0) return npos;
        for (std::size_t i = home(id);; i = (i + 1) & mask_) {
            const cell& c = cells_[i];
            if (c.id == id) return c.slot;
            if (c.id == 0) return npos;
        }
    }

    /// Inserts id -> slot; false (and nothing changed) when id is present. Requires id != 0.
    bool insert(std::uint64_t id, std::uint32_t slot) {
        if (2 * (size_ + 1) > cells_.size()) rehash(cells_.size() * 2);
        std::size_t i = home(id);
        for (; cells_[i].id != 0; i = (i + 1) & mask_)
            if (cells_[i].id == id) return false;
        cells_[i] = {id, slot};
        ++size_;
        return true;
    }

    /// Removes id; false when absent.
    bool erase(std::uint64_t id) noexcept {
        if (id == 0) return false;
        std::size_t i = home(id);
        for (; cells_[i].id != id; i = (i + 1) & mask_)
            if (cells_[i].id == 0) return false;
        // Backward shift: pull later cells of the probe run into the hole when their home
        // position does not lie cyclically in (hole, their position].
        for (std::size_t j = i;;) {
            j = (j + 1) & mask_;
            if (cells_[j].id == 0) break;
            const std::size_t k = home(cells_[j].id);
            const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (stays) continue;
            cells_[i] = cells_[j];
            i = j;
        }
        cells_[i] = {};
        --size_;
        return true;
    }

    void reserve(std::size_t n) {
        std::size_t want = cells_.size();
        while (want < 2 * n)
            want *= 2;
        if (want != cells_.size()) rehash(want);
    }

    /// f(id, slot) for every entry.
    template <class F>
    void for_each(F&& f) const {
        for (const cell& c : cells_)
            if (c.id != 0) f(c.id, c.slot);
    }

private:
    struct cell {
        std::uint64_t id = 0;
        std::uint32_t slot = 0;
    };

    std::size_t home(std::uint64_t id) const noexcept {
        return static_cast<std::size_t>(id >> id_shift_) & mask_;
    }

    void rehash(std::size_t n) {  // n: a power of two >= 2
        std::vector<cell> old(n);
        old.swap(cells_);
        mask_ = n - 1;
        for (const cell& c : old) {
            if (c.id == 0) continue;
            std::size_t i = home(c.id);
            while (cells_[i].id != 0)
                i = (i + 1) & mask_;
            cells_[i] = c;
        }
    }

    std::vector<cell> cells_;
    std::size_t size_ = 0;
    std::size_t mask_ = 0;
    unsigned id_shift_ = 0;
};

}  // namespace millrace::detail
