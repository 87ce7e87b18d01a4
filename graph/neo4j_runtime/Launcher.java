import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * Runs Neo4j Community embedded with Bolt on a loopback port.
 *
 * Usage: java -cp 'LIB/*' Launcher.java HOME PORT PAGECACHE PLUGIN_DIR [--exit-on-stdin-eof]
 *
 * Prints "ORGGRAPH-NEO4J-READY bolt://127.0.0.1:PORT" once the default database
 * answers. With --exit-on-stdin-eof it shuts down when its parent closes stdin
 * (or dies, even by SIGKILL), so it never outlives the process that started it.
 */
public class Launcher {
    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: Launcher HOME PORT PAGECACHE PLUGIN_DIR [--exit-on-stdin-eof]");
            System.exit(2);
        }
        Path home = Path.of(args[0]);
        int port = Integer.parseInt(args[1]);
        String pagecache = args[2];
        Path plugins = Path.of(args[3]);
        boolean watchStdin = args.length > 4 && args[4].equals("--exit-on-stdin-eof");
        Files.createDirectories(home);

        DatabaseManagementService service;
        try {
            service = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, parseBytes(pagecache))
                .setConfig(GraphDatabaseSettings.plugin_dir, plugins)
                .setConfig(GraphDatabaseSettings.procedure_unrestricted, List.of("apoc.*"))
                .setConfig(GraphDatabaseSettings.procedure_allowlist, List.of("*"))
                .build();
        } catch (RuntimeException error) {
            System.err.println("ORGGRAPH-NEO4J-FAILED " + error);
            error.printStackTrace();
            System.exit(1);
            return;
        }
        final DatabaseManagementService running = service;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("ORGGRAPH-NEO4J-STOPPING");
            running.shutdown();
        }));
        GraphDatabaseService db = service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(Duration.ofMinutes(5).toMillis())) {
            System.err.println("ORGGRAPH-NEO4J-FAILED database not available");
            System.exit(1);
        }
        System.out.println("ORGGRAPH-NEO4J-READY bolt://127.0.0.1:" + port);
        System.out.flush();
        if (watchStdin) {
            InputStream in = System.in;
            try {
                while (in.read() != -1) {
                    // the parent writes nothing; EOF means it closed stdin or died
                }
            } catch (IOException ignored) {
                // a broken pipe means the same
            }
            System.exit(0);
        }
        Thread.currentThread().join();
    }

    private static long parseBytes(String value) {
        String v = value.trim().toLowerCase();
        long unit = 1;
        if (v.endsWith("g")) { unit = 1L << 30; v = v.substring(0, v.length() - 1); }
        else if (v.endsWith("m")) { unit = 1L << 20; v = v.substring(0, v.length() - 1); }
        else if (v.endsWith("k")) { unit = 1L << 10; v = v.substring(0, v.length() - 1); }
        return Long.parseLong(v) * unit;
    }
}
