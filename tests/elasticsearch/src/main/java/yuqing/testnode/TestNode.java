package yuqing.testnode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.ClasspathPluginsNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * A single-node Elasticsearch cluster for yuqing's tests: real server code and the real netty4 HTTP
 * transport, bound to 127.0.0.1 on a free port, data under the given directory.
 *
 * Usage: TestNode HOME_DIR URL_FILE. Once HTTP is bound, the URL is written to URL_FILE (atomically)
 * and printed. SIGTERM closes the node cleanly.
 */
public final class TestNode {

    private static final String NODE_NAME = "yuqing-test-node";

    private TestNode() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: TestNode HOME_DIR URL_FILE");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path urlFile = Path.of(args[1]).toAbsolutePath();
        Settings settings = settings(home);

        // Connects Elasticsearch's logging API to log4j, which configures itself from
        // log4j2-test.properties in target/classes (console lines into run/node.log).
        LogConfigurator.configureESLogging();

        // The bare server has no HTTP layer: netty4 provides it (and the transport).
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> NODE_NAME);
        Node node = new ClasspathPluginsNode(environment, List.of(Netty4Plugin.class, RootInfoPlugin.class));
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> close(node, closed), "yuqing-test-node-shutdown"));
        node.start();

        HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
        String url = "http://" + http.boundAddress().publishAddress().toString();
        writeAtomically(urlFile, url + "\n");
        System.out.println("yuqing test node listening at " + url);
        closed.await();
    }

    private static Settings settings(Path home) {
        return Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "yuqing-test")
            .put("node.name", NODE_NAME)
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("http.port", "0")
            .put("transport.port", "0")
            // The disk is shared with other work; don't let a full-ish disk flip indices to read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // Two shared cores: keep thread pools and shard counts small.
            .put("node.processors", 1)
            .build();
    }

    private static void close(Node node, CountDownLatch closed) {
        try {
            node.close();
            node.awaitClose(30, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            System.err.println("error closing the test node: " + e);
        } finally {
            closed.countDown();
        }
    }

    private static void writeAtomically(Path target, String content) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.writeString(tmp, content, StandardCharsets.UTF_8);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
