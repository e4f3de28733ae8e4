// Launcher for the MongoDB wire-protocol stand-in (de.bwaldvogel:mongo-java-server, in-memory backend).
// Java 17 runs it as a single source file, no build step:
//   java -cp ".services/mongo-standin/libs/*" services/mongo-standin/StandIn.java PORT [HOST]
// Prints "READY host:port" on stdout once it listens; SIGTERM shuts it down. Data lives in memory only.
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;
import java.util.concurrent.CountDownLatch;

public class StandIn {
  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: StandIn PORT [HOST]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    String host = args.length > 1 ? args[1] : "127.0.0.1";
    // mongo-java-server 1.47.0's ServerVersion.MONGO_5_0 reports maxWireVersion 8 (= MongoDB 4.2), which
    // the Node driver 7 refuses ("requires at least 9 (MongoDB 4.4)"). Report 5.0 with its real wire
    // version 13 instead; the stand-in's feature set is what it is either way (see docs/services.md).
    MongoVersion v50 = new MongoVersion() {
      public List<Integer> getVersionArray() { return List.of(5, 0, 0); }
      public int getWireVersion() { return 13; }
    };
    MongoServer server = new MongoServer(new MemoryBackend().version(v50));
    server.bind(host, port);
    CountDownLatch stopped = new CountDownLatch(1);
    // Netty's event-loop threads are not daemons: if shutdownNow() cannot finish (a dead event loop),
    // the JVM would linger holding the port and closing every connection. Halt once it has had its go.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      Thread closer = new Thread(server::shutdownNow);
      closer.setDaemon(true);
      closer.start();
      try {
        closer.join(3000);
      } catch (InterruptedException ignored) {
        // halting below either way
      }
      stopped.countDown();
      Runtime.getRuntime().halt(0);
    }));
    System.out.println("READY " + host + ":" + port);
    System.out.flush();
    stopped.await();
  }
}
