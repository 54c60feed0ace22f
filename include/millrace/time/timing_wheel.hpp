// millrace/time/timing_wheel.hpp: a hierarchical timing wheel over abstract 64-bit ticks.
//
// The algorithm (Varghese & Lauck, "Hashed and Hierarchical Timing Wheels", SOSP 1987, with the
// placement rule of the tokio and Linux wheels, but cascading so that it stays exact), its
// memory layout and its measurements are in docs/timing-wheel.md. The node pool and the entry
// chunks live in time/detail/.
//
// Guarantees
//   - Exact: a timer never fires before its expiry tick, and fires in the first `advance(t)`
//     with `t >= expiry`. An expiry at or before `now()` fires in the next `advance`, even
//     `advance(now())`. Within one `advance` timers fire in non-decreasing expiry order.
//   - `insert`, `cancel`, `reschedule`: O(1). `advance`: O(timers fired + slots visited +
//     entries cascaded); a jump of any size never scans empty slots or ticks.
//   - A fired, cancelled or stale `timer_id` is refused by `cancel` and `reschedule` and never
//     touches a newer timer that reuses its node (32-bit generations and stamps that never
//     wrap: a node near a wrap is retired instead of reused).
//   - No allocation in steady state: the pools grow only when more timers are pending than
//     ever before (or when dead entries pile up past the compaction bound).
//   - Not thread-safe: one wheel belongs to one thread, so there are no atomics here.
//   - now() inside on_expire is max(expiry, now() before the advance). A timer inserted from
//     inside on_expire at or before that tick fires in the NEXT advance (a callback re-arming
//     itself at now() cannot loop); a later one due by the advance's target fires in order.
//
// Exceptions: a throwing on_expire leaves the wheel consistent: the timer that threw counts
// as fired, timers not yet fired stay pending, now() is what it read inside that callback, and
// the exception propagates. insert, reschedule and advance may throw std::bad_alloc when a
// pool grows (nothing changes then); `advance` and `clear` throw std::logic_error when called
// from inside on_expire.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "millrace/core/config.hpp"
#include "millrace/core/detail/planted.hpp"
#include "millrace/time/detail/wheel_chunks.hpp"
#include "millrace/time/detail/wheel_nodes.hpp"

namespace millrace {

namespace detail {
// Test hook: tests define it to reach a wheel's internals (e.g. to age a node's counters
// near their 32-bit wrap, which real use reaches only after 2^31 lifetimes). Not defined
// by the library.
template <class Wheel>
struct timing_wheel_access;
}  // namespace detail

/// Compile-time shape of a timing wheel: `Levels` levels of `Slots` slots each. `Slots` is a
/// power of two from 2 to 64 (a level's occupancy is one 64-bit word) and
/// log2(Slots) * Levels must not exceed 64; beyond that many ticks, timers wait in a heap.
template <std::size_t Levels = 6, std::size_t Slots = 64>
struct wheel_config {
    static_assert(Levels >= 1, "wheel_config: at least one level");
    static_assert(Slots >= 2 && Slots <= 64 && (Slots & (Slots - 1)) == 0,
                  "wheel_config: Slots must be a power of two between 2 and 64");
    /// Levels of the wheel.
    static constexpr std::size_t levels = Levels;
    /// Slots in each level.
    static constexpr std::size_t slots = Slots;
    /// log2(Slots): tick bits each level covers.
    static constexpr unsigned slot_bits = static_cast<unsigned>(std::countr_zero(Slots));
    static_assert(slot_bits * Levels <= 64, "wheel_config: log2(Slots) * Levels must be <= 64");
};

/// Names one timer of one wheel. A small value: copy it freely. A default-constructed id
/// names no timer; an id stays valid across `reschedule` and goes stale when its timer
/// fires or is cancelled.
struct timer_id {
    /// The timer's slot in the wheel's pool.
    std::uint32_t index = 0;
    std::uint32_t generation = 0;  ///< odd while the timer is pending; 0 never names a timer
    friend constexpr bool operator==(timer_id, timer_id) noexcept = default;
};

/// A hierarchical timing wheel of values of T: O(1) schedule and cancel, driven by advance(tick).
template <class T, class Config = wheel_config<>>
class timing_wheel {
    template <class W>
    friend struct detail::timing_wheel_access;
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                  "timing_wheel<T>: T must be nothrow move-constructible and nothrow destructible");

public:
    /// The value each timer carries.
    using value_type = T;
    /// Its shape: levels and slots.
    using config = Config;
    /// Names one timer.
    using timer_id = millrace::timer_id;
    /// Levels of the wheel.
    static constexpr std::size_t levels = Config::levels;
    /// Slots in each level.
    static constexpr std::size_t slots = Config::slots;
    /// log2(slots).
    static constexpr unsigned slot_bits = Config::slot_bits;
    /// Ticks the wheel covers ahead of now(): later expiries wait in the far-timer heap.
    static constexpr unsigned range_bits = slot_bits * static_cast<unsigned>(levels);

    timing_wheel() noexcept = default;
    /// An empty wheel whose time is `start_tick`.
    explicit timing_wheel(std::uint64_t start_tick) noexcept : now_(start_tick) {}
    timing_wheel(const timing_wheel&) = delete;
    timing_wheel& operator=(const timing_wheel&) = delete;
    /// Takes the timers of `other`, which is left empty.
    timing_wheel(timing_wheel&& other) noexcept { swap(other); }
    /// Takes the timers of `other`, which is left empty; the previous timers are destroyed.
    timing_wheel& operator=(timing_wheel&& other) noexcept {
        timing_wheel tmp(std::move(other));
        swap(tmp);
        return *this;
    }
    ~timing_wheel() = default;

    /// Exchanges every timer, id, now() and pool with `o` (ids stay valid in their new wheel).
    void swap(timing_wheel& o) noexcept {
        using std::swap;
        swap(wheel_, o.wheel_);
        swap(occupied_, o.occupied_);
        swap(level_mask_, o.level_mask_);
        swap(far_, o.far_);
        swap(due_, o.due_);
        swap(due_min_, o.due_min_);
        swap(firing_, o.firing_);
        swap(firing_pos_, o.firing_pos_);
        chunks_.swap(o.chunks_);
        nodes_.swap(o.nodes_);
        swap(size_, o.size_);
        swap(now_, o.now_);
        swap(dead_entries_, o.dead_entries_);
        swap(slot_fire_, o.slot_fire_);
        swap(slot_fire_pos_, o.slot_fire_pos_);
        swap(slot_fire_tail_, o.slot_fire_tail_);
        swap(in_advance_, o.in_advance_);
    }

    /// Adds a timer that fires in the first advance(t) with t >= expiry_tick (an expiry at
    /// or before now() fires in the next advance). O(1). Throws std::bad_alloc when a pool
    /// must grow, std::length_error past 2^32 - 1 pending timers; the wheel is unchanged then.
    [[nodiscard]] timer_id insert(std::uint64_t expiry_tick, T value) {
        // The common case, kept small enough to inline: an expiry in the wheel's range, a
        // free chunk and a free node at hand, so nothing can throw.
        if (expiry_tick > now_ && destination(expiry_tick) == where::wheel && chunks_.free_count() != 0 &&
            nodes_.has_free()) [[likely]] {
            return emplace(where::wheel, expiry_tick, std::move(value));
        }
        return insert_slow(expiry_tick, std::move(value));
    }

    /// Cancels a pending timer and destroys its value: true if it was pending; false for a
    /// fired, cancelled or stale id (which never touches another timer). O(1).
    [[nodiscard]] bool cancel(timer_id id) noexcept {
        node* n = live_node(id);
        if constexpr (detail::planted(
                          "stale_cancel"))  // ignores the generation: a stale id cancels the new timer
            if (id.index < nodes_.count() && (node_at(id.index).gen & 1u) != 0) n = &node_at(id.index);
        if (n == nullptr) return false;
        std::destroy_at(std::addressof(n->value));
        ++n->gen;
        ++n->stamp;  // its entry is dead now
        nodes_.release(*n, id.index);
        --size_;
        ++dead_entries_;
        return true;
    }

    /// Moves a pending timer to a new expiry; the id stays valid. True if it was pending,
    /// false (and nothing changes) for a fired, cancelled or stale id. O(1). Throws
    /// std::bad_alloc when a pool must grow (the timer is unchanged then).
    [[nodiscard]] bool reschedule(timer_id id, std::uint64_t expiry_tick) {
        node* n = live_node(id);
        if (n == nullptr) return false;
        const where dest = destination(expiry_tick);
        make_room(dest);
        if (n->stamp >= node_pool::stamp_limit) [[unlikely]] {
            // One more bump per reschedule would wrap the 32-bit stamp after 2^32 of them,
            // and an old dead entry of this node would look live again. Drop every dead
            // entry and this node's current one, then restart its stamp: no entry of the
            // node is left, so no old stamp can match.
            compact_all(id.index);
            n->stamp = 0;
        } else {
            ++n->stamp;
            ++dead_entries_;
        }
        put(dest, entry{expiry_tick, id.index, n->stamp});
        return true;
    }

    /// True while the timer named by `id` is pending.
    [[nodiscard]] bool pending(timer_id id) const noexcept { return is_live(id); }

    /// Moves now() to `now_tick` (a tick before now() counts as now()) and calls
    /// on_expire(T&&) for every timer with expiry <= now_tick, in non-decreasing expiry
    /// order; returns how many fired. During on_expire, now() is max(the timer's expiry,
    /// now() before this advance) (due-list timers fire first, at the old now()), and
    /// the callback may insert, cancel and reschedule (see the header comment), but not
    /// call advance or clear (std::logic_error).
    template <class F>
    requires std::is_invocable_v<F&, T&&> std::size_t advance(std::uint64_t now_tick, F&& on_expire) {
        if (in_advance_) throw std::logic_error("timing_wheel::advance: called from inside on_expire");
        std::size_t fired = 0;
        fire_due(on_expire, fired);  // sets in_advance_ itself; may throw before anything fired
        advance_guard guard(*this);
        const std::uint64_t target = now_tick < now_ ? now_ : now_tick;
        for (;;) {
            if (level_mask_ != 0) {
                const auto k = static_cast<unsigned>(std::countr_zero(level_mask_));
                const auto s = static_cast<unsigned>(std::countr_zero(occupied_[k]));
                std::uint64_t d = slot_start(k, s);
                if constexpr (detail::planted("cascade_off_by_one"))
                    d += k > 0 ? 1 : 0;  // cascades one tick late
                if (d > target) break;
                now_ = d;
                if (k == 0) {
                    fire_slot(s, on_expire, fired);
                } else {
                    cascade(k, s);
                }
            } else if (range_bits < 64 && !far_.empty()) {
                const std::uint64_t w = far_.front().expiry & ~range_mask();
                if (w > target) break;
                migrate(w);  // sets now_ = w once it cannot fail
            } else {
                break;
            }
        }
        now_ = target;
        return fired;
    }

    /// A lower bound on the earliest pending expiry, never later than it (also from inside
    /// on_expire: while the rest of a level-0 slot waits to fire, it is now()); exact while
    /// the earliest timer sits in level 0, in the far heap or in the due list (cancelled
    /// timers may make it early). nullopt when no timer is pending.
    [[nodiscard]] std::optional<std::uint64_t> next_expiry() const noexcept {
        if (size_ == 0) return std::nullopt;
        std::uint64_t best = std::numeric_limits<std::uint64_t>::max();
        // Inside on_expire for a level-0 slot: the rest of that slot (detached from the
        // wheel while it fires) expires at now().
        if (slot_fire_ != nullptr && (slot_fire_pos_ < slot_fire_->count || slot_fire_->next != nullptr))
            best = now_;
        if (!due_.empty()) best = std::min(best, due_min_);
        if (firing_pos_ < firing_.size()) best = std::min(best, firing_[firing_pos_].expiry);
        if (level_mask_ != 0) {
            const auto k = static_cast<unsigned>(std::countr_zero(level_mask_));
            best = std::min(best, slot_start(k, static_cast<unsigned>(std::countr_zero(occupied_[k]))));
        } else if (!far_.empty()) {
            best = std::min(best, far_.front().expiry);
        }
        return best;
    }

    /// Timers pending.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    /// Whether no timer is pending.
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    /// The tick of the last advance (the start tick before any); during on_expire,
    /// max(the firing timer's expiry, now() before that advance).
    [[nodiscard]] std::uint64_t now() const noexcept { return now_; }

    /// Destroys every pending value (no callback runs) and makes every id stale; now() and
    /// the pools' capacity stay. Throws std::logic_error from inside on_expire.
    void clear() {
        if (in_advance_) throw std::logic_error("timing_wheel::clear: called from inside on_expire");
        nodes_.destroy_values();
        for (auto& level : wheel_)
            level.fill(slot_list{});
        occupied_.fill(0);
        level_mask_ = 0;
        chunks_.reset();
        far_.clear();
        due_.clear();
        firing_.clear();
        firing_pos_ = 0;
        size_ = 0;
        dead_entries_ = 0;
        nodes_.reset();  // no entry is left: every node free again, stamps restart
    }

    /// Grows the pools so that `timers` timers (counting those already pending) can be
    /// inserted with expiries after now(), in the wheel's range or beyond it, without
    /// allocating. Not covered: expiries at or before now() beyond 16 (the due list, drained
    /// by every advance), and pools that an advance grows while cascading. Throws
    /// std::bad_alloc or std::length_error (what was reserved so far stays).
    void reserve(std::size_t timers) {
        while (nodes_.capacity() < timers)
            nodes_.grow();
        const std::size_t chunks = timers / chunk_entries + slots * levels + 1;
        while (chunks_.total() < chunks)
            chunks_.grow();
        if (due_.capacity() < 16) due_.reserve(16);
        if (range_bits < 64 && far_.capacity() < timers) far_.reserve(timers);
    }

private:
    // ---- layout -------------------------------------------------------------------------
    using entry = detail::wheel_entry;
    using chunk = detail::wheel_chunk;
    using slot_list = detail::wheel_slot_list;
    using node_pool = detail::wheel_node_pool<T>;
    using node = typename node_pool::node;
    static constexpr std::size_t chunk_entries = detail::wheel_chunk_entries;

    enum class where : std::uint8_t { due, wheel, far };

    // ---- helpers ------------------------------------------------------------------------
    MILLRACE_NOINLINE timer_id insert_slow(std::uint64_t expiry_tick, T&& value) {
        const where dest = destination(expiry_tick);
        make_room(dest);
        if (!nodes_.has_free()) nodes_.grow();
        return emplace(dest, expiry_tick, std::move(value));
    }

    // Room is made (a node and whatever `dest` needs): cannot fail.
    timer_id emplace(where dest, std::uint64_t expiry_tick, T&& value) noexcept {
        const std::uint32_t idx = nodes_.alloc();
        node& n = node_at(idx);
        ::new (static_cast<void*>(std::addressof(n.value))) T(std::move(value));
        ++n.gen;  // even -> odd: pending
        ++size_;
        put(dest, entry{expiry_tick, idx, n.stamp});
        return timer_id{idx, n.gen};
    }

    static constexpr std::uint64_t range_mask() noexcept {
        return range_bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << (range_bits % 64)) - 1;
    }

    node& node_at(std::uint32_t i) noexcept { return nodes_.at(i); }
    const node& node_at(std::uint32_t i) const noexcept { return nodes_.at(i); }
    node* live_node(timer_id id) noexcept { return nodes_.live(id.index, id.generation); }
    bool is_live(timer_id id) const noexcept { return nodes_.is_live(id.index, id.generation); }

    // Makes sure `n` chunks are free, compacting dead entries first when they exceed half
    // the live timers (plus a slack, so a small wheel does not compact all the time), so
    // slots hold at most ~1.5 entries per pending timer: <= 48 bytes per timer under
    // cancel/reschedule churn. Amortised O(1): a compaction costs O(entries) and follows at
    // least size/2 cancels or reschedules. Never inside advance (the cascade's source list
    // is detached there).
    void ensure_free_chunks(std::size_t n) {
        if (chunks_.free_count() >= n) return;
        if (!in_advance_ && dead_entries_ > size_ / 2 + 4 * chunk_entries) compact();
        while (chunks_.free_count() < n)
            chunks_.grow();
    }

    where destination(std::uint64_t e) const noexcept {
        if (e <= now_) return where::due;
        if constexpr (range_bits >= 64) {
            return where::wheel;
        } else {
            return ((e ^ now_) >> range_bits) == 0 ? where::wheel : where::far;
        }
    }

    unsigned level_of(std::uint64_t e) const noexcept {
        const std::uint64_t x = e ^ now_;
        return x == 0 ? 0u : static_cast<unsigned>(63 - std::countl_zero(x)) / slot_bits;
    }

    // Everything that can throw before a timer is placed: afterwards `put` cannot fail.
    void make_room(where dest) {
        switch (dest) {
            case where::due:
                if (due_.size() == due_.capacity()) {
                    // Dead entries (cancelled or rescheduled while due) leave only when an
                    // advance fires the list: drop them first, and grow only when at least
                    // half the list is live (amortised O(1): a pass that keeps < half frees
                    // room for as many pushes as it cost).
                    if (due_.size() >= 16) compact_due();
                    if (due_.size() >= due_.capacity() / 2)
                        due_.reserve(std::max<std::size_t>(16, 2 * due_.capacity()));
                }
                break;
            case where::wheel:
                ensure_free_chunks(1);
                break;
            case where::far:
                if (far_.size() == far_.capacity()) {
                    if (!in_advance_ && far_.size() >= 64) compact_far();
                    if (far_.size() == far_.capacity())
                        far_.reserve(std::max<std::size_t>(16, 2 * far_.capacity()));
                }
                break;
        }
    }

    void put(where dest, const entry& en) noexcept {
        switch (dest) {
            case where::due:
                if (due_.empty() || en.expiry < due_min_) due_min_ = en.expiry;
                due_.push_back(en);
                break;
            case where::wheel:
                place(en);
                break;
            case where::far:
                far_.push_back(en);
                std::push_heap(far_.begin(), far_.end(), later);
                break;
        }
    }

    static bool later(const entry& a, const entry& b) noexcept { return a.expiry > b.expiry; }

    // Puts an entry with expiry >= now_ and level < levels into its slot. Needs a free chunk
    // when the slot's tail is full (callers guarantee one).
    void place(const entry& en) noexcept {
        const unsigned k = level_of(en.expiry);
        const auto s = static_cast<unsigned>((en.expiry >> (slot_bits * k)) & (slots - 1));
        slot_list& sl = wheel_[k][s];
        if (sl.tail == nullptr) {
            sl.head = sl.tail = chunks_.take();
            occupied_[k] |= std::uint64_t{1} << s;
            level_mask_ |= std::uint64_t{1} << k;
        } else if (sl.tail->count == chunk_entries) {
            chunk* c = chunks_.take();
            sl.tail->next = c;
            sl.tail = c;
        }
        chunk* t = sl.tail;
        const std::uint32_t i = t->count++;
        // Warm the entry four places on (the next cache line) for writing: a slot's tail is
        // one of up to levels x slots write streams, too many for the hardware prefetcher.
        MILLRACE_PREFETCH(&t->e[i + 4 < chunk_entries ? i + 4 : chunk_entries - 1], 1);
        t->e[i] = en;
    }

    // The first tick that slot s of level k covers, given that it lies in now_'s window.
    std::uint64_t slot_start(unsigned k, unsigned s) const noexcept {
        const unsigned above = slot_bits * (k + 1);
        const std::uint64_t base = above >= 64 ? 0 : now_ & ~((std::uint64_t{1} << above) - 1);
        return base | (static_cast<std::uint64_t>(s) << (slot_bits * k));
    }

    slot_list detach(unsigned k, unsigned s) noexcept {
        slot_list l = wheel_[k][s];
        wheel_[k][s] = slot_list{};
        occupied_[k] &= ~(std::uint64_t{1} << s);
        if (occupied_[k] == 0) level_mask_ &= ~(std::uint64_t{1} << k);
        return l;
    }

    // Re-places every entry of slot s of level k (k > 0) relative to now_ (its start): each
    // lands in a lower level. Streams through the entries without touching nodes.
    void cascade(unsigned k, unsigned s) {
        // Enough free chunks that placing cannot fail: every target slot may need one chunk
        // more than the source chunks released as they are emptied (k * slots targets).
        ensure_free_chunks(k * slots + 1);
        const slot_list l = detach(k, s);
        for (chunk* c = l.head; c != nullptr;) {
            chunk* next = c->next;
            if (next != nullptr) {  // chunks lie anywhere in memory: fetch the next one early
                const char* p = reinterpret_cast<const char*>(next);
                for (std::size_t off = 0; off < sizeof(chunk); off += 64)
                    MILLRACE_PREFETCH(p + off, 0);
            }
            for (std::uint32_t i = 0; i < c->count; ++i) {
                const entry& en = c->e[i];
                // Landing in level 0 means firing within `slots` ticks: start fetching the
                // node now, while the cascade streams on, rather than stall on it then.
                if (((en.expiry ^ now_) >> slot_bits) == 0) MILLRACE_PREFETCH(&node_at(en.index), 1);
                place(en);
            }
            chunks_.release(c);
            c = next;
        }
    }

    // Moves the far timers of the top-level window starting at w into the wheel and sets
    // now_ = w. Strong guarantee: the window's entries are popped to the back of the heap's
    // vector and counted, the chunks they can need are reserved (the one step that may
    // throw; the entries are pushed back then, and now_ is untouched), and only then is
    // anything placed. A throw half-way through placing used to leave now_ at w with some
    // window entries still in the heap: a later advance set now_ back to w.
    void migrate(std::uint64_t w) {
        auto first = far_.end();
        std::size_t n = 0;
        while (first != far_.begin() && (far_.front().expiry & ~range_mask()) == w) {
            std::pop_heap(far_.begin(), first, later);
            --first;
            ++n;
        }
        // Each slot's list can need one partly filled chunk plus one per chunk_entries.
        const std::size_t need = std::min(n, n / chunk_entries + levels * slots + 1);
        try {
            ensure_free_chunks(need);
        } catch (...) {
            while (first != far_.end())
                std::push_heap(far_.begin(), ++first, later);
            throw;
        }
        now_ = w;
        for (auto it = first; it != far_.end(); ++it) {
            if (live_entry(*it)) {
                place(*it);
            } else if (dead_entries_ != 0) {
                --dead_entries_;
            }
        }
        far_.erase(first, far_.end());
    }

    // Marks advance as running and clears the mark however advance ends.
    struct advance_guard {
        timing_wheel& w;
        explicit advance_guard(timing_wheel& wheel) noexcept : w(wheel) { w.in_advance_ = true; }
        ~advance_guard() { w.in_advance_ = false; }
        advance_guard(const advance_guard&) = delete;
        advance_guard& operator=(const advance_guard&) = delete;
    };

    // Fires one entry if it is still live. The node leaves the pending set before the
    // callback runs (its id goes stale: cancel from the callback returns false), and goes
    // back to the free list after it, even when it throws.
    template <class F>
    void fire_entry(const entry& en, F& on_expire, std::size_t& fired) {
        node& n = node_at(en.index);
        if (n.stamp != en.stamp) {
            if (dead_entries_ != 0) --dead_entries_;
            return;
        }
        ++n.gen;  // odd -> even: no longer pending
        --size_;
        ++fired;
        struct release {
            timing_wheel& w;
            node& n;
            std::uint32_t i;
            ~release() {
                std::destroy_at(std::addressof(n.value));
                ++n.stamp;
                w.nodes_.release(n, i);
            }
        } r{*this, n, en.index};
        on_expire(std::move(n.value));
    }

    // Fires the due list (expiries <= now_ inserted before this advance), sorted by expiry.
    // Entries inserted by the callbacks go to a fresh due list and wait for the next advance.
    template <class F>
    void fire_due(F& on_expire, std::size_t& fired) {
        if (firing_pos_ < firing_.size()) {
            // Left over by an on_expire that threw: merge them back (may throw bad_alloc,
            // before anything changed).
            due_.insert(due_.end(), firing_.begin() + static_cast<std::ptrdiff_t>(firing_pos_),
                        firing_.end());
            due_min_ = std::min(due_min_, firing_[firing_pos_].expiry);
        }
        firing_.clear();
        firing_pos_ = 0;
        if (due_.empty()) return;
        advance_guard guard(*this);
        firing_.swap(due_);
        if (firing_.size() > 1)
            std::sort(firing_.begin(), firing_.end(),
                      [](const entry& a, const entry& b) noexcept { return a.expiry < b.expiry; });
        while (firing_pos_ < firing_.size()) {
            const entry en = firing_[firing_pos_++];
            fire_entry(en, on_expire, fired);
        }
        firing_.clear();
        firing_pos_ = 0;
    }

    // Fires slot s of level 0: every entry in it expires at now_. When on_expire throws, the
    // entries not yet fired go back into the slot (nothing else can have entered it: a
    // callback's timer for now_ goes to the due list, a later one to another slot).
    // The detached list's cursor lives in members (slot_fire_*) so that next_expiry and a
    // compaction from inside on_expire (compact_all) can see the entries not yet fired.
    template <class F>
    void fire_slot(unsigned s, F& on_expire, std::size_t& fired) {
        const slot_list l = detach(0, s);
        slot_fire_ = l.head;
        slot_fire_pos_ = 0;
        slot_fire_tail_ = l.tail;
        try {
            while (slot_fire_ != nullptr) {
                chunk* c = slot_fire_;
                // Each node is touched once, here, and is usually a cache miss at a million
                // timers: ask for the chunk's nodes all at once so the misses overlap.
                for (std::uint32_t j = 0; j < c->count; ++j)
                    MILLRACE_PREFETCH(&node_at(c->e[j].index), 1);
                while (slot_fire_pos_ < c->count) {
                    const entry en = c->e[slot_fire_pos_++];
                    fire_entry(en, on_expire, fired);
                }
                slot_fire_ = c->next;
                slot_fire_pos_ = 0;
                chunks_.release(c);
            }
        } catch (...) {
            chunk* c = slot_fire_;
            const std::uint32_t i = slot_fire_pos_;
            slot_fire_ = nullptr;
            slot_fire_pos_ = 0;
            if (c != nullptr) {
                std::copy(c->e + i, c->e + c->count, c->e);
                c->count -= i;
                chunk* tail = slot_fire_tail_;
                if (c->count == 0) {
                    chunk* next = c->next;
                    chunks_.release(c);
                    c = next;
                }
                if (c != nullptr) {
                    wheel_[0][s] = slot_list{c, tail};
                    occupied_[0] |= std::uint64_t{1} << s;
                    level_mask_ |= 1;
                }
            }
            throw;
        }
    }

    bool live_entry(const entry& en) const noexcept { return node_at(en.index).stamp == en.stamp; }

    // Drops the entries that fail keep from every slot (touches the node of each entry:
    // O(entries)).
    template <class Keep>
    void compact_slots(Keep keep) noexcept {
        for (std::size_t k = 0; k < levels; ++k) {
            for (std::size_t s = 0; s < slots; ++s) {
                slot_list& sl = wheel_[k][s];
                if (sl.head == nullptr) continue;
                sl.tail = chunks_.compact_chain(sl.head, 0, keep);
                if (sl.head->count == 0) {  // nothing survived
                    chunks_.release(sl.head);
                    sl = slot_list{};
                    occupied_[k] &= ~(std::uint64_t{1} << s);
                    if (occupied_[k] == 0) level_mask_ &= ~(std::uint64_t{1} << k);
                }
            }
        }
    }

    // Drops dead entries from every slot (not inside advance).
    void compact() noexcept {
        compact_slots([this](const entry& en) noexcept { return live_entry(en); });
        dead_entries_ = 0;  // what is left in the due list and far heap is not counted again
    }

    // Drops every dead entry everywhere, and every entry of node `drop` (live or not):
    // slots, due list, far heap, and, inside advance, the due list being fired and the
    // level-0 slot being fired (cascade never runs a callback, so no other list is
    // detached when this runs). O(entries).
    void compact_all(std::uint32_t drop) noexcept {
        auto keep = [this, drop](const entry& en) noexcept { return en.index != drop && live_entry(en); };
        compact_slots(keep);
        if (slot_fire_ != nullptr) slot_fire_tail_ = chunks_.compact_chain(slot_fire_, slot_fire_pos_, keep);
        auto dead = [&keep](const entry& en) noexcept { return !keep(en); };
        firing_.erase(
            std::remove_if(firing_.begin() + static_cast<std::ptrdiff_t>(firing_pos_), firing_.end(), dead),
            firing_.end());  // keeps the firing order
        due_.erase(std::remove_if(due_.begin(), due_.end(), dead), due_.end());
        recompute_due_min();
        far_.erase(std::partition(far_.begin(), far_.end(), keep), far_.end());
        std::make_heap(far_.begin(), far_.end(), later);
        dead_entries_ = 0;
    }

    void recompute_due_min() noexcept {
        due_min_ = std::numeric_limits<std::uint64_t>::max();
        for (const entry& en : due_)
            due_min_ = std::min(due_min_, en.expiry);
    }

    // Drops the due list's dead entries (it is never iterated while callbacks run: the list
    // being fired was swapped out into firing_).
    void compact_due() noexcept {
        const auto keep = std::remove_if(due_.begin(), due_.end(),
                                         [this](const entry& en) noexcept { return !live_entry(en); });
        const auto removed = static_cast<std::size_t>(due_.end() - keep);
        due_.erase(keep, due_.end());
        recompute_due_min();
        dead_entries_ = dead_entries_ > removed ? dead_entries_ - removed : 0;
    }

    void compact_far() noexcept {
        auto live = [this](const entry& en) noexcept { return node_at(en.index).stamp == en.stamp; };
        auto keep = std::partition(far_.begin(), far_.end(), live);  // stable_partition would allocate
        const auto removed = static_cast<std::size_t>(far_.end() - keep);
        far_.erase(keep, far_.end());
        std::make_heap(far_.begin(), far_.end(), later);
        dead_entries_ = dead_entries_ > removed ? dead_entries_ - removed : 0;
    }

    // ---- state --------------------------------------------------------------------------
    std::array<std::array<slot_list, slots>, levels> wheel_{};
    std::array<std::uint64_t, levels> occupied_{};  // bit s of word k: slot s of level k non-empty
    std::uint64_t level_mask_ = 0;                  // bit k: occupied_[k] != 0
    std::vector<entry> far_;                        // min-heap on expiry (beyond the wheel's range)
    std::vector<entry> due_;                        // expiries <= now_, fired by the next advance
    std::uint64_t due_min_ = 0;                     // min expiry in due_ (when non-empty)
    std::vector<entry> firing_;                     // the due list being fired (sorted)
    std::size_t firing_pos_ = 0;
    detail::wheel_chunk_pool chunks_;
    node_pool nodes_;
    std::size_t size_ = 0;
    std::uint64_t now_ = 0;
    std::size_t dead_entries_ = 0;     // stale entries still in slots, due list or heap (approximate)
    chunk* slot_fire_ = nullptr;       // inside fire_slot: the chunk being fired (detached from the wheel)
    std::uint32_t slot_fire_pos_ = 0;  // the next entry of slot_fire_ to fire
    chunk* slot_fire_tail_ = nullptr;  // the detached list's last chunk
    bool in_advance_ = false;
};

}  // namespace millrace
