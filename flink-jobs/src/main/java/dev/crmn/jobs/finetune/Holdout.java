package dev.crmn.jobs.finetune;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * The images the gate judges candidates on, rotated so that none decides more than {@code maxUses} rounds: an image
 * that has judged that many leaves for training (labelled data is not thrown away), and when the holdout is full a
 * new holdout image takes the place of the most used one (the oldest among equals), which leaves for training too.
 * So the gate never fits one fixed set over weeks, and the holdout follows the stream. Not thread-safe.
 */
public final class Holdout {

    /** A holdout image and the rounds it has decided. */
    public record Held(Example example, int uses) {
    }

    private final int capacity;
    private final int maxUses;
    private final List<Held> items;
    private long seen;

    public Holdout(int capacity, int maxUses) {
        this(capacity, maxUses, List.of(), 0);
    }

    /** A holdout restored from state. */
    public Holdout(int capacity, int maxUses, List<Held> items, long seen) {
        if (capacity < 1 || maxUses < 1) {
            throw new IllegalArgumentException("capacity and max uses must be >= 1");
        }
        this.capacity = capacity;
        this.maxUses = maxUses;
        this.items = new ArrayList<>(items.size() > capacity ? items.subList(items.size() - capacity, items.size()) : items);
        this.seen = seen;
    }

    /**
     * Adds a holdout image. When the holdout is full, the most used image (the oldest among equals) makes room and is
     * returned, for training; else null.
     */
    public Example offer(Example e) {
        seen++;
        if (items.size() < capacity) {
            items.add(new Held(e, 0));
            return null;
        }
        int most = 0;
        for (int i = 1; i < items.size(); i++) {
            if (items.get(i).uses() > items.get(most).uses()) {
                most = i;
            }
        }
        Example out = items.remove(most).example();
        items.add(new Held(e, 0));
        return out;
    }

    /**
     * The images {@code judged} (the holdout a round started with; those still here) have decided one more round;
     * those that have now decided {@code maxUses} leave the holdout and are returned, for training.
     */
    public List<Example> decided(List<Example> judged) {
        Set<Example> j = Collections.newSetFromMap(new IdentityHashMap<>());
        j.addAll(judged);
        List<Example> retired = new ArrayList<>();
        List<Held> kept = new ArrayList<>(items.size());
        for (Held h : items) {
            if (!j.contains(h.example())) {
                kept.add(h);
            } else if (h.uses() + 1 >= maxUses) {
                retired.add(h.example());
            } else {
                kept.add(new Held(h.example(), h.uses() + 1));
            }
        }
        items.clear();
        items.addAll(kept);
        return retired;
    }

    /** The images, oldest first (the same instances until they leave). */
    public List<Example> examples() {
        return items.stream().map(Held::example).toList();
    }

    public List<Held> items() {
        return Collections.unmodifiableList(items);
    }

    public int size() {
        return items.size();
    }

    /** Holdout images offered so far. */
    public long seen() {
        return seen;
    }
}
