import java.io.IOException;
import java.io.InputStream;
import java.net.BindException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * Runs Neo4j Community embedded, with Bolt on a loopback port and auth off.
 *
 * <pre>
 * java -cp 'LIB/*' Launcher.java --home DIR --port N [--pagecache 512m]
 *      [--plugins DIR] [--tx-timeout-s 0] [--exit-on-stdin-eof]
 * </pre>
 *
 * Prints "ORGGRAPH-NEO4J-READY bolt://127.0.0.1:PORT" once the default database
 * is available, or "ORGGRAPH-NEO4J-FAILED reason" before exiting non-zero.
 * With --exit-on-stdin-eof it shuts down when stdin reaches EOF: the parent
 * closed it, or died (even by SIGKILL), so the database never outlives it.
 */
public class Launcher {
    static final String READY = "ORGGRAPH-NEO4J-READY";
    static final String FAILED = "ORGGRAPH-NEO4J-FAILED";
    static final int EXIT_USAGE = 2;
    static final int EXIT_PORT_TAKEN = 3;
    static final int EXIT_START_FAILED = 4;
    static final int EXIT_STORE_LOCKED = 5;

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parse(argv);
        Path home = Path.of(required(args, "--home")).toAbsolutePath();
        int port = Integer.parseInt(required(args, "--port"));
        Files.createDirectories(home);

        AtomicReference<DatabaseManagementService> service = new AtomicReference<>();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            DatabaseManagementService running = service.getAndSet(null);
            if (running != null) {
                System.out.println("ORGGRAPH-NEO4J-STOPPING");
                running.shutdown();
                System.out.println("ORGGRAPH-NEO4J-STOPPED");
            }
        }, "orggraph-shutdown"));
        if (args.containsKey("--exit-on-stdin-eof")) {
            watchStdin();
        }

        try {
            service.set(builder(home, port, args).build());
        } catch (RuntimeException error) {
            if (findCause(error, t -> t instanceof BindException
                    || String.valueOf(t.getMessage()).contains("Address already in use")) != null) {
                fail(EXIT_PORT_TAKEN, "bolt port 127.0.0.1:" + port + " is already in use", error);
            }
            if (findCause(error, t -> t.getClass().getSimpleName().equals("FileLockException")) != null) {
                fail(EXIT_STORE_LOCKED, "the store in " + home + " is locked by another process", error);
            }
            fail(EXIT_START_FAILED, "Neo4j did not start: " + findCause(error, t -> t.getCause() == null), error);
        }
        GraphDatabaseService db = service.get().database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(Duration.ofMinutes(10).toMillis())) {
            fail(EXIT_START_FAILED, "the default database did not become available", null);
        }
        System.out.println(READY + " bolt://127.0.0.1:" + port);
        System.out.flush();
        Thread.currentThread().join();
    }

    static DatabaseManagementServiceBuilder builder(Path home, int port, Map<String, String> args) {
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home)
            .setConfig(BoltConnector.enabled, true)
            .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
            // By the time Bolt shuts down the databases are closed; its two default 5 s
            // grace periods would only make every stop 10 s slower.
            .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
            .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
            .setConfig(HttpConnector.enabled, false)
            .setConfig(HttpsConnector.enabled, false)
            // Loopback only, and the store is the user's own: no credentials to manage.
            .setConfig(GraphDatabaseSettings.auth_enabled, false)
            .setConfig(GraphDatabaseSettings.pagecache_memory, bytes(args.getOrDefault("--pagecache", "512m")))
            .setConfig(GraphDatabaseSettings.transaction_timeout,
                Duration.ofMillis((long) (1000 * Double.parseDouble(args.getOrDefault("--tx-timeout-s", "0")))))
            // A development store: don't reserve 256 MB of disk per transaction log up front.
            .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
            .setConfig(GraphDatabaseSettings.procedure_unrestricted, List.of("apoc.*"))
            .setConfig(GraphDatabaseSettings.procedure_allowlist, List.of("*"));
        if (args.containsKey("--plugins")) {
            builder.setConfig(GraphDatabaseSettings.plugin_dir, Path.of(args.get("--plugins")).toAbsolutePath());
        }
        return builder;
    }

    /** A daemon thread that exits the JVM (running the shutdown hook) on stdin EOF. */
    static void watchStdin() {
        Thread watcher = new Thread(() -> {
            InputStream in = System.in;
            byte[] buffer = new byte[256];
            try {
                while (in.read(buffer) != -1) {
                    // the parent writes nothing; only EOF matters
                }
            } catch (IOException ignored) {
                // a broken pipe means the parent is gone too
            }
            System.out.println("ORGGRAPH-NEO4J-STDIN-EOF");
            System.exit(0);
        }, "orggraph-stdin-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    static Throwable findCause(Throwable error, Predicate<Throwable> test) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (test.test(t)) {
                return t;
            }
        }
        return null;
    }

    static void fail(int code, String reason, Throwable error) {
        System.out.println(FAILED + " " + reason);
        System.out.flush();
        if (error != null) {
            error.printStackTrace();
        }
        System.exit(code);
    }

    static Map<String, String> parse(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String key = argv[i];
            if (key.equals("--exit-on-stdin-eof")) {
                args.put(key, "true");
            } else if (key.startsWith("--") && i + 1 < argv.length) {
                args.put(key, argv[++i]);
            } else {
                usage("unexpected argument " + key);
            }
        }
        return args;
    }

    static String required(Map<String, String> args, String key) {
        String value = args.get(key);
        if (value == null) {
            usage("missing " + key);
        }
        return value;
    }

    static void usage(String problem) {
        System.err.println(problem);
        System.err.println("usage: java -cp 'LIB/*' Launcher.java --home DIR --port N [--pagecache 512m]"
            + " [--plugins DIR] [--tx-timeout-s 0] [--exit-on-stdin-eof]");
        System.exit(EXIT_USAGE);
    }

    /** "512m", "1g", "64k" or a plain byte count. */
    static long bytes(String value) {
        String v = value.trim().toLowerCase();
        long unit = 1;
        char last = v.charAt(v.length() - 1);
        if (last == 'k' || last == 'm' || last == 'g') {
            unit = last == 'k' ? 1L << 10 : last == 'm' ? 1L << 20 : 1L << 30;
            v = v.substring(0, v.length() - 1);
        }
        return Long.parseLong(v) * unit;
    }
}
