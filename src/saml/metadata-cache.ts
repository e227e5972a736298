import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";

/** Default folder of the metadata disk cache, relative to the config folder. */
export const DEFAULT_METADATA_CACHE_DIR = "var/metadata-cache";

/** A metadata document read back from the disk cache. */
export interface CachedMetadata {
  xml: string;
  /** When the file was last written, in milliseconds since the epoch. */
  savedAtMs: number;
}

/**
 * The last accepted copy of one connection's IdP metadata, kept on disk as
 * `<folder>/<connection id>.xml`, so the service can start while the metadata URL is down.
 * Connection ids contain only `[a-z0-9-]`, so the name cannot leave the folder. The copy is
 * checked like a downloaded document before use, because anyone who can write the folder can
 * replace it.
 */
export class MetadataDiskCache {
  readonly file: string;

  constructor(
    readonly folder: string,
    connectionId: string,
  ) {
    this.file = path.join(folder, `${connectionId}.xml`);
  }

  /** Returns the cached document, or undefined when there is none. Other errors propagate. */
  async read(): Promise<CachedMetadata | undefined> {
    try {
      const [xml, info] = await Promise.all([readFile(this.file, "utf8"), stat(this.file)]);
      return { xml, savedAtMs: info.mtimeMs };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /**
   * Writes the document to a temporary file in the same folder and renames it over the old
   * copy, so a crash never leaves half a document behind.
   */
  async write(xml: string): Promise<void> {
    await mkdir(this.folder, { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.${process.pid}.tmp`;
    await writeFile(temporary, xml, { encoding: "utf8", mode: 0o600 });
    await rename(temporary, this.file);
  }
}
