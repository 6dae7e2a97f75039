package dev.crmn.model.scratch;

import dev.crmn.model.config.*;
import dev.crmn.model.graph.*;
import dev.crmn.model.perf.CpuFastPath;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.api.ndarray.INDArray;

public class Smoke {
    public static void main(String[] a) throws Exception {
        CpuFastPath.configure();
        System.out.println(CpuFastPath.status());
        String preset = a.length > 0 ? a[0] : "crmn-demo";
        CNN2DFormat fmt = a.length > 1 ? CNN2DFormat.valueOf(a[1]) : CNN2DFormat.NHWC;
        CrmnConfig cfg = Presets.get(preset);
        ComputationGraph net = CrmnGraphBuilder.network(cfg, GraphOptions.training().withLayout(fmt));
        System.out.println(net.summary());
        for (var l : net.getLayers()) { if (l.getHelper() != null) { System.out.println(l.conf().getLayer().getLayerName() + " helper " + l.getHelper().getClass().getSimpleName()); break; } }
        int bs = 64;
        INDArray x = fmt == CNN2DFormat.NHWC ? Nd4j.rand(bs, 32, 32, 3) : Nd4j.rand(bs, 3, 32, 32);
        for (int i = 0; i < 3; i++) net.output(x);
        long t0 = System.nanoTime();
        int n = 10;
        for (int i = 0; i < n; i++) net.output(x);
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf("%s %s batch %d: %.1f img/s%n", preset, fmt, bs, n * bs / s);
    }
}
