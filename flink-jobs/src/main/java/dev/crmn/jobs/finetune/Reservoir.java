package dev.crmn.jobs.finetune;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A uniform sample of at most {@code capacity} of everything offered (reservoir sampling), so what came early
 * is still represented after months of data. Deterministic: the choice for the n-th offer depends only on n and
 * the seed, so a restored reservoir continues exactly as the lost one would have. Not thread-safe.
 */
public final class Reservoir {

    private final int capacity;
    private final long seed;
    private final List<Example> items;
    private long seen;

    public Reservoir(int capacity, long seed) {
        this(capacity, seed, new ArrayList<>(), 0);
    }

    /** A reservoir restored from state. */
    public Reservoir(int capacity, long seed, List<Example> items, long seen) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1");
        }
        this.capacity = capacity;
        this.seed = seed;
        this.items = new ArrayList<>(items.size() > capacity ? items.subList(0, capacity) : items);
        this.seen = seen;
    }

    /** Offers one example: kept with probability capacity / seen (always while there is room). */
    public void offer(Example e) {
        seen++;
        if (items.size() < capacity) {
            items.add(e);
            return;
        }
        long j = new SplittableRandom(seed ^ (seen * 0x9E3779B97F4A7C15L)).nextLong(seen);
        if (j < capacity) {
            items.set((int) j, e);
        }
    }

    /** Up to {@code n} distinct examples drawn at random. */
    public List<Example> sample(int n, SplittableRandom rng) {
        return sample(items, n, rng);
    }

    /** {@code n} distinct elements of {@code from} (all of them, copied, when it has no more). */
    static List<Example> sample(List<Example> from, int n, SplittableRandom rng) {
        if (n >= from.size()) {
            return List.copyOf(from);
        }
        int[] idx = rng.ints(0, from.size()).distinct().limit(n).toArray();
        List<Example> out = new ArrayList<>(n);
        for (int i : idx) {
            out.add(from.get(i));
        }
        return out;
    }

    public List<Example> items() {
        return items;
    }

    public int size() {
        return items.size();
    }

    /** Examples offered so far. */
    public long seen() {
        return seen;
    }
}
