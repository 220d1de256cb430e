import type { Logger } from '../cli/log.ts';
import { helperThreadModule } from '../files/code-location.ts';
import { startCallWorker } from '../threads/worker-call.ts';
import { knownSchemaModel, rememberSchemaModel, schemaModelFiles, type SchemaModel } from './schema-model.ts';

/**
 * Prisma's schema parser is WebAssembly whose memory never shrinks (~58 MB): parse in a helper thread that is ended
 * right after, and remember the model in this process, so later loadSchemaModel calls of the same schema files
 * neither start the parser here nor parse again.
 */
export async function parseSchemaModelInThread(schemaPath: string, log: Logger): Promise<SchemaModel> {
  const files = schemaModelFiles(schemaPath);
  const known = knownSchemaModel(files);
  if (known) return known;
  const helper = startCallWorker(helperThreadModule('prisma/schema-model'), log);
  try {
    const model = await helper.call<SchemaModel>('loadSchemaModel', schemaPath);
    rememberSchemaModel(files, model);
    return model;
  } finally {
    await helper.close();
  }
}
