package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class HoldoutTest {

    static Example ex(int i) {
        return new Example(new byte[] {(byte) i}, i % 10, 0, i);
    }

    @Test
    void noImageDecidesMoreThanMaxUsesRoundsAndRetiredImagesGoToTraining() {
        Holdout h = new Holdout(10, 3);
        for (int i = 0; i < 5; i++) {
            assertThat(h.offer(ex(i))).isNull();
        }
        List<Example> retired = new ArrayList<>();
        int rounds = 0;
        while (h.size() > 0) {
            retired.addAll(h.decided(h.examples()));
            rounds++;
        }
        assertThat(rounds).isEqualTo(3);
        assertThat(retired).extracting(Example::offset).containsExactly(0L, 1L, 2L, 3L, 4L);
    }

    @Test
    void whenFullANewImageReplacesTheMostUsedOneWhichGoesToTraining() {
        Holdout h = new Holdout(3, 5);
        h.offer(ex(0));
        h.offer(ex(1));
        List<Example> judged = h.examples();
        h.offer(ex(2)); // arrived during the round: not judged by it
        h.decided(judged);
        h.decided(List.of(judged.get(1)));
        Example out = h.offer(ex(3));
        assertThat(out.offset()).as("image 1 decided two rounds").isEqualTo(1);
        assertThat(h.items()).extracting(x -> x.example().offset() + ":" + x.uses()).containsExactly("0:1", "2:0", "3:0");
        assertThat(h.offer(ex(4)).offset()).as("then the most used, image 0").isEqualTo(0);
        assertThat(h.offer(ex(5)).offset()).as("among equals, the oldest").isEqualTo(2);
        assertThat(h.seen()).isEqualTo(6);
    }

    @Test
    void aRestoredHoldoutKeepsTheNewestWhenItsCapacityShrank() {
        List<Holdout.Held> saved = List.of(new Holdout.Held(ex(0), 2), new Holdout.Held(ex(1), 0), new Holdout.Held(ex(2), 1));
        Holdout h = new Holdout(2, 5, saved, 3);
        assertThat(h.examples()).extracting(Example::offset).containsExactly(1L, 2L);
    }
}
